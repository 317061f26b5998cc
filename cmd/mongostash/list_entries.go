package main

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/stream"
)

// listEntry is one backup as `list --json` prints it.
type listEntry struct {
	Key         string             `json:"key"`
	Time        time.Time          `json:"time"`
	Size        int64              `json:"size"`
	Compression stream.Compression `json:"compression"`
	Complete    bool               `json:"complete"`
	Legacy      bool               `json:"legacy"`
	State       string             `json:"state"`             // complete, legacy, incomplete, size-mismatch, invalid-manifest
	Problem     string             `json:"problem,omitempty"` // why it is not restorable
	Databases   []string           `json:"databases,omitempty"`
	Documents   int64              `json:"documents,omitempty"`
	Encryption  stream.Encryption  `json:"encryption,omitempty"` // "age", or absent
	// LockMode and LockedUntil are the store's Object Lock retention on the object (or its
	// manifest, whichever ends later): the backup cannot be deleted before then.
	LockMode    string     `json:"lock_mode,omitempty"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	// ConsistentAt is the moment a backup made with an oplog restores to (its oplog's
	// end); absent for a backup without one.
	ConsistentAt *time.Time          `json:"consistent_at,omitempty"`
	Oplog        *catalog.OplogRange `json:"oplog,omitempty"`
}

// newListEntry is backup b as list prints it at now.
func newListEntry(b catalog.Backup, now time.Time) listEntry {
	e := listEntry{Key: b.Key, Time: b.Time.UTC(), Size: b.Size, Compression: b.Compression, Complete: b.Complete(), Legacy: b.Legacy(),
		State: b.State(), Problem: b.Problem(), Encryption: b.Encryption}
	if b.Complete() {
		e.Databases = b.Manifest.Databases
		e.Documents = b.Manifest.Documents()
		if o := b.Manifest.Oplog; o != nil {
			at := o.End.Time()
			e.ConsistentAt, e.Oplog = &at, o
		}
	}
	if until := b.LockedUntil(now); !until.IsZero() {
		until = until.UTC()
		e.LockMode, e.LockedUntil = strings.ToLower(cmp.Or(b.Lock.Mode, b.ManifestLock.Mode)), &until
	}
	return e
}

// listStates are the words of list's STATE column.
var listStates = map[string]string{
	"complete":         "complete",
	"legacy":           "legacy (seed, no manifest)",
	"incomplete":       "INCOMPLETE (no manifest)",
	"invalid-manifest": "INVALID MANIFEST (see verify)",
}

// printBackups prints the backups as list's table.
func printBackups(a *app, entries []listEntry, now time.Time) error {
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "KEY\tTIME\tAGE\tSIZE\tCOMPRESSION\tDATABASES\tDOCUMENTS\tSTATE\tLOCK")
	for _, e := range entries {
		state := listStates[e.State]
		switch {
		case e.State == "size-mismatch":
			state = fmt.Sprintf("SIZE MISMATCH (%s)", e.Problem)
		case e.State == "complete" && e.ConsistentAt != nil:
			state = "complete, consistent at " + e.ConsistentAt.Format(time.RFC3339)
		}
		docs := "-"
		if e.Complete {
			docs = fmt.Sprint(e.Documents)
		}
		layers := string(e.Compression)
		if e.Encryption != stream.Unencrypted {
			layers += "+" + string(e.Encryption)
		}
		lock := "-"
		if e.LockedUntil != nil {
			lock = e.LockMode + " until " + e.LockedUntil.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Key, e.Time.Format(time.RFC3339), humanAge(now.Sub(e.Time)),
			humanBytes(e.Size), layers, orDash(strings.Join(e.Databases, ",")), docs, state, lock)
	}
	return tw.Flush()
}
