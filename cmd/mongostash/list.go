package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/stream"
)

type listCmd struct {
	Store StoreFlags `embed:"" group:"Storage"`

	JSON    bool `name:"json" help:"Print a JSON array for scripts."`
	Windows bool `name:"windows" help:"Print only the recovery windows of point-in-time recovery (with --json: a JSON object of windows, chains and gaps)."`
}

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

func (c *listCmd) Run(ctx context.Context, a *app) error {
	store, err := c.Store.open(ctx, a)
	if err != nil {
		return err
	}
	backups, ignored, err := catalog.ListBackups(ctx, store, c.Store.Prefix)
	if err != nil {
		return err
	}
	// Two requests per backup on a bucket with Object Lock, none elsewhere.
	ptrs := make([]*catalog.Backup, len(backups))
	for i := range backups {
		ptrs[i] = &backups[i]
	}
	if err := catalog.ReadBackupLocks(ctx, store, ptrs); err != nil {
		return err
	}
	windows, archived, err := readWindows(ctx, store, c.Store.Prefix, backups)
	if err != nil {
		return err
	}
	if c.Windows && c.JSON {
		return writeJSON(a.stdout, windows)
	}
	if c.Windows {
		return printWindows(a, windows)
	}
	now := time.Now()
	entries := make([]listEntry, 0, len(backups))
	for _, b := range backups {
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
		entries = append(entries, e)
	}
	if c.JSON {
		return writeJSON(a.stdout, entries)
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "KEY\tTIME\tAGE\tSIZE\tCOMPRESSION\tDATABASES\tDOCUMENTS\tSTATE\tLOCK")
	for _, e := range entries {
		state := map[string]string{
			"complete":         "complete",
			"legacy":           "legacy (seed, no manifest)",
			"incomplete":       "INCOMPLETE (no manifest)",
			"size-mismatch":    fmt.Sprintf("SIZE MISMATCH (%s)", e.Problem),
			"invalid-manifest": "INVALID MANIFEST (see verify)",
		}[e.State]
		if e.State == "complete" && e.ConsistentAt != nil {
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
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ignored) > 0 {
		a.log.Info("objects under the prefix that are not backups were ignored", "count", len(ignored))
	}
	if archived { // the oplog is archived here: say what it reaches
		fmt.Fprintln(a.stdout)
		return printWindows(a, windows)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
