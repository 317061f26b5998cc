package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
)

// Recovery windows in `list`: what `restore --to-time` can reach, from the base backups
// and the chains of archived oplog chunks, with the gaps and holes between chains.

// windowsReport is `list --windows --json`.
type windowsReport struct {
	// Summary is the one-line description restore's refusals give too.
	Summary          string        `json:"summary"`
	Windows          []windowEntry `json:"windows"`
	Breaks           []breakEntry  `json:"breaks"`
	Chains           []chainEntry  `json:"chains"`
	IncompleteChunks int           `json:"incomplete_chunks"` // chunk objects without a manifest: never replayed
	// SupersededChunks were finished by an archiver that had lost its lease, in the range
	// the new holder writes: never replayed either.
	SupersededChunks int `json:"superseded_chunks"`
}

// windowEntry is one recovery window: every target From <= target <= To is restorable.
type windowEntry struct {
	From        optime.Timestamp `json:"from"`
	To          optime.Timestamp `json:"to"`
	FirstSecond time.Time        `json:"first_second"`
	LastSecond  *time.Time       `json:"last_second,omitempty"` // absent when shorter than a second
	Base        string           `json:"base"`                  // the oldest base backup opening it
	Bases       []string         `json:"bases"`
	Description string           `json:"description"`
}

// breakEntry is where one chain of chunks ends and the next begins without the entries
// between: a recorded gap (the oplog lost them) or a hole (a chunk is missing).
type breakEntry struct {
	After       optime.Timestamp `json:"after"`
	Until       optime.Timestamp `json:"until"`
	GapMarker   string           `json:"gap_marker,omitempty"` // empty for a hole
	Description string           `json:"description"`
}

type chainEntry struct {
	Since   optime.Timestamp `json:"since"`
	Until   optime.Timestamp `json:"until"`
	Chunks  int              `json:"chunks"`
	Entries int64            `json:"entries"`
	Bytes   int64            `json:"bytes"`
}

// readWindows reads the oplog folder and computes the windows the backups give.
func readWindows(ctx context.Context, store storage.Store, prefix string, backups []catalog.Backup) (windowsReport, bool, error) {
	oc, err := catalog.ReadOplogCatalog(ctx, store, prefix)
	if err != nil {
		return windowsReport{}, false, err
	}
	cs := oc.BuildChains()
	ws := catalog.RecoveryWindows(catalog.BasePoints(backups), cs)
	superseded := len(oc.Superseded())
	r := windowsReport{Summary: catalog.DescribeWindows(ws), Windows: []windowEntry{}, Breaks: []breakEntry{}, Chains: []chainEntry{},
		IncompleteChunks: len(oc.Incomplete()) - superseded, SupersededChunks: superseded}
	for _, w := range ws {
		e := windowEntry{From: w.From, To: w.To, FirstSecond: w.FirstSecond(), Base: w.Base.Key, Description: w.String()}
		if last, ok := w.LastSecond(); ok {
			e.LastSecond = &last
		}
		for _, b := range w.Bases {
			e.Bases = append(e.Bases, b.Key)
		}
		r.Windows = append(r.Windows, e)
	}
	for _, b := range cs.Breaks {
		e := breakEntry{After: b.After, Until: b.Until, Description: b.String()}
		if b.Gap != nil {
			e.GapMarker = b.Gap.Key
		}
		r.Breaks = append(r.Breaks, e)
	}
	for _, ch := range cs.Chains {
		e := chainEntry{Since: ch.Since, Until: ch.Until, Chunks: len(ch.Chunks)}
		for _, c := range ch.Chunks {
			e.Entries += c.Manifest.Entries
			e.Bytes += c.Size
		}
		r.Chains = append(r.Chains, e)
	}
	return r, len(oc.Chunks)+len(oc.Gaps) > 0, nil
}

// printWindows writes the windows, in the order of time, with the breaks between them.
func printWindows(a *app, r windowsReport) error {
	w := a.stdout
	fmt.Fprintln(w, "RECOVERY WINDOWS (restore --to-time)")
	if len(r.Windows) == 0 {
		fmt.Fprintln(w, "  none: "+r.Summary)
	}
	for _, e := range r.Windows {
		fmt.Fprintln(w, "  "+e.Description)
	}
	for _, ch := range r.Chains {
		fmt.Fprintf(w, "  oplog chain %s to %s: %d chunks, %d entries, %s\n", ch.Since, ch.Until, ch.Chunks, ch.Entries, humanBytes(ch.Bytes))
	}
	for _, b := range r.Breaks {
		fmt.Fprintln(w, "  GAP: "+b.Description)
	}
	if r.IncompleteChunks > 0 {
		fmt.Fprintf(w, "  %d chunk objects without a manifest (an archiver that died mid-upload, or one uploading now): never replayed\n", r.IncompleteChunks)
	}
	if r.SupersededChunks > 0 {
		fmt.Fprintf(w, "  %d chunks finished by an archiver after it lost its lease, in the range the new holder writes: never replayed\n", r.SupersededChunks)
	}
	return nil
}
