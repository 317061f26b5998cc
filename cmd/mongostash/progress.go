package main

import (
	"fmt"
	"strings"
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
				progressbar.OptionSetWriter(a.stderr),
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
					desc := fmt.Sprintf("%s (%s)", label, humanBytes(bytes))
					if active := activeNamespaces(p, 4, 60); active != "" {
						desc += " " + active
					}
					bar.Describe(desc)
					continue
				}
				a.log.Info(label+" progress", "documents", docs, "planned_documents", p.PlannedDocuments.Load(),
					"bytes", bytes, "collections_done", p.Namespaces.Load(), "in_progress", activeNamespaces(p, 4, 0))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// activeNamespaces describes up to max namespaces still in progress, with their document
// counts and, where the plan knows their size, percentages: "db.a 1200 (40%), db.b 30".
// With width > 0 it stops before the text grows past width characters, so that the bar
// stays on one line of the terminal.
func activeNamespaces(p *dump.Progress, max, width int) string {
	var parts []string
	more, length := 0, 0
	for _, n := range p.PerNamespace() {
		if n.Done {
			continue
		}
		s := fmt.Sprintf("%s %d", n.Namespace, n.Documents)
		if n.PlannedDocuments > 0 {
			s += fmt.Sprintf(" (%d%%)", min(100, n.Documents*100/n.PlannedDocuments))
		}
		if len(parts) == max || (width > 0 && len(parts) > 0 && length+len(s)+2 > width) {
			more++
			continue
		}
		parts = append(parts, s)
		length += len(s) + 2
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("+%d more", more))
	}
	return strings.Join(parts, ", ")
}
