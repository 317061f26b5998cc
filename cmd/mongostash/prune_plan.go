package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/retention"
)

// planEntry is one line of the prune plan. Complete and Legacy mean what they mean in
// `list --json`: a legacy (seed-era) backup has no manifest, so it is not complete, though
// retention counts it as restorable.
type planEntry struct {
	// Kind is empty for a backup, "oplog-chunk" or "gap-marker" for the archived oplog
	// (point-in-time recovery), whose lines follow the backups'.
	Kind     string    `json:"kind,omitempty"`
	Key      string    `json:"key"`
	Time     time.Time `json:"time"`
	Complete bool      `json:"complete"`
	Legacy   bool      `json:"legacy"`
	Action   string    `json:"action"` // keep or delete
	Reasons  []string  `json:"reasons"`
	// LockedUntil is when the store's lock on a backup the policy would delete expires.
	LockedUntil *time.Time `json:"locked_until,omitempty"`
}

func countDeletes(decisions []retention.Decision) int {
	n := 0
	for _, d := range decisions {
		if !d.Keep {
			n++
		}
	}
	return n
}

// With stale set (the staleness guard holds: backups have stopped) prune deletes nothing,
// and the plan says so line by line rather than show deletes that will not happen.
func (c *pruneCmd) printPlan(a *app, decisions []retention.Decision, byKey map[string]catalog.Backup, oplogEntries []planEntry, stale string) error {
	entries := make([]planEntry, 0, len(decisions))
	for _, d := range decisions {
		b := byKey[d.Backup.Key]
		e := planEntry{Key: d.Backup.Key, Time: d.Backup.Time.UTC(), Complete: b.Complete(), Legacy: b.Legacy(), Action: action(d.Keep), Reasons: d.Reasons}
		if until := d.Backup.LockedUntil; !until.IsZero() {
			until = until.UTC()
			e.LockedUntil = &until
		}
		entries = append(entries, e)
	}
	entries = append(entries, oplogEntries...)
	if stale != "" {
		for i := range entries {
			if entries[i].Action == "delete" {
				entries[i].Action = "keep"
				entries[i].Reasons = append([]string{"nothing is deleted while backups have stopped (" + stale + ")"}, entries[i].Reasons...)
			}
		}
	}
	if c.JSON {
		return writeJSON(a.stdout, entries)
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "ACTION\tKEY\tTIME\tREASONS")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Action, e.Key, e.Time.Format(time.RFC3339), strings.Join(e.Reasons, "; "))
	}
	return tw.Flush()
}
