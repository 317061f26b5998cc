package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mongostash/mongostash/dump"
)

// startProgress shows p as a progress bar when stderr is a terminal, and as a log line
// every 30 seconds otherwise (cron logs stay short). The returned function stops it.
func startProgress(a *app, label string, p *dump.Progress) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	interactive := isTerminal(a.stderr)
	go func() {
		defer wg.Done()
		var bar *progressbar.ProgressBar
		tick := 30 * time.Second
		if interactive {
			tick = 200 * time.Millisecond
		}
		// The bar appears with the first document, once planning (and its log lines) are
		// done, so that it never shares a line with them and knows its total. It counts
		// documents: servers' estimates of data size (collStats) include storage overhead,
		// while their document counts are close.
		newBar := func() *progressbar.ProgressBar {
			total := p.PlannedDocuments.Load()
			if total <= 0 {
				total = -1
			}
			return progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(label),
				progressbar.OptionSetItsString("docs"),
				progressbar.OptionShowIts(),
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-done:
				if bar != nil {
					_ = bar.Finish()
				}
				return
			case <-t.C:
				docs, bytes := p.Documents.Load(), p.Bytes.Load()
				if interactive {
					if bar == nil && docs == 0 {
						continue
					}
					if bar == nil {
						bar = newBar()
					}
					_ = bar.Set64(docs)
					bar.Describe(fmt.Sprintf("%s (%s)", label, humanBytes(bytes)))
					continue
				}
				a.log.Info(label+" progress", "documents", docs, "planned_documents", p.PlannedDocuments.Load(),
					"bytes", bytes, "collections_done", p.Namespaces.Load())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
