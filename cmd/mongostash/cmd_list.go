package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
)

type listCmd struct {
	Store StoreFlags `embed:"" group:"Storage"`

	JSON    bool `name:"json" env:"LIST_JSON" help:"Print a JSON array for scripts."`
	Windows bool `name:"windows" env:"LIST_WINDOWS" help:"Print only the recovery windows of point-in-time recovery (with --json: a JSON object of windows, chains and gaps)."`
}

// Help is the long help of the list command: examples.
func (listCmd) Help() string {
	return `Examples:
  mongostash list                                        # key, time, age, size, state, lock; then the recovery windows
  mongostash list --json | jq -r '.[] | select(.state == "complete") | .key'
  mongostash list --windows                              # the times restore --to-time can reach
  S3_PREFIX=prod/ mongostash list`
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
	switch {
	case c.Windows && c.JSON:
		return writeJSON(a.stdout, windows)
	case c.Windows:
		return printWindows(a, windows)
	}
	now := time.Now()
	entries := make([]listEntry, 0, len(backups))
	for _, b := range backups {
		entries = append(entries, newListEntry(b, now))
	}
	if c.JSON {
		return writeJSON(a.stdout, entries)
	}
	if err := printBackups(a, entries, now); err != nil {
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
