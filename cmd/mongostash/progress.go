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
// every 30 seconds otherwise (cron logs stay short). totalBytes, when known (a restore's
// object size), sizes the bar; otherwise the planned bytes are used. The returned
// function stops it.
func startProgress(a *app, label string, p *dump.Progress, totalBytes int64) func() {
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
			total := totalBytes
			if total <= 0 {
				total = p.PlannedBytes.Load()
			}
			if total <= 0 {
				total = -1
			}
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(label),
				progressbar.OptionShowBytes(true),
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
				if bar != nil {
					_ = bar.Set64(bytes)
					bar.Describe(fmt.Sprintf("%s: %d docs", label, docs))
					continue
				}
				a.log.Info(label+" progress", "documents", docs, "planned_documents", p.PlannedDocuments.Load(),
					"bytes", bytes, "collections_done", p.Namespaces.Load())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
