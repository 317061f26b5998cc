package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/pitr"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

// Point-in-time recovery (`restore --to-time`): the catalog plans the restore — a base
// backup and the oplog chunks from its consistent point to the target — and refuses a
// target no base and unbroken chain reach before anything is written. The base backup is
// then restored as any backup is, and the chunks' entries are replayed after its own
// oplog through dump.RestoreOptions.MoreOplog: same replay, filters and renames, and with
// --drop the same temporary collections, swapped in only when everything proved good.

// pointInTime is a planned restore to a point in time.
type pointInTime struct {
	store storage.Store
	ids   *stream.Identities
	plan  *catalog.RestorePlan
	read  pitr.PlanStats // what the replay read, once it ran
	// cache keeps the chunks checked before the restore on disk for the replay (without
	// --drop); nil with --drop, where they are read once anyway.
	cache *pitr.ChunkCache
	// backups are the catalog's backups, read once for the plan: the base is opened from them.
	backups []catalog.Backup
}

// planPointInTime plans --to-time; nil without it. It refuses the flags that cannot go
// with it, and, without --drop, reads every planned chunk once before the restore writes
// anything, so that a damaged chunk cannot leave a half-replayed database behind (with
// --drop a damaged chunk fails the restore before the swap: nothing is replaced).
func (c *restoreCmd) planPointInTime(ctx context.Context, a *app, ids *stream.Identities) (*pointInTime, error) {
	if c.ToTime == "" {
		return nil, nil
	}
	switch {
	case c.From != "":
		return nil, usagef("--to-time restores from the store's backups and oplog chunks: leave out --from")
	case c.Object != "" && c.Object != "latest":
		return nil, usagef("--to-time picks its base backup itself (the newest one consistent before the target): leave out the backup key")
	case c.OplogLimit != "":
		return nil, usagef("--to-time and --oplog-limit both say where the replay stops: give one")
	case c.OplogReplay == "false":
		return nil, usagef("--to-time replays the oplog: it cannot go with --oplog-replay=false")
	case c.Engine == "mongotools":
		return nil, usagef("--to-time needs --engine native: mongorestore cannot replay the archived oplog chunks")
	}
	target, latest, err := optime.ParseUpTo(c.ToTime) // inclusive
	if err != nil {
		return nil, usagef("--to-time: %v", err)
	}
	store, err := c.Store.open(ctx, a)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.ReadCatalog(ctx, store, c.Store.Prefix)
	if err != nil {
		return nil, err
	}
	plan, err := planToTime(ctx, a, store, c.Store.Prefix, catalog.BasePoints(cat.Backups), target, latest)
	if err != nil {
		return nil, fmt.Errorf("restore --to-time %s: %w (nothing was written)", c.ToTime, err)
	}
	pt := &pointInTime{store: store, ids: ids, plan: plan, backups: cat.Backups}
	pt.logPlan(a, c.Mongo.Database)
	if !c.Drop && !c.DryRun {
		if err := pt.verify(ctx, a); err != nil {
			return nil, err
		}
	}
	return pt, nil
}

// planToTime plans the restore to target (the newest point a window reaches, when latest)
// from the oplog catalog read through its index, and reads the manifests of the chunks it
// replays — the only ones it reads. When the index turns out to be out of date (a chunk
// deleted or changed by hand since it was written), it reads the folder whole and plans
// again.
func planToTime(ctx context.Context, a *app, store storage.Store, prefix string, bases []catalog.BasePoint, target optime.Timestamp, latest bool) (*catalog.RestorePlan, error) {
	oc, err := catalog.ReadOplogCatalog(ctx, store, prefix)
	if err != nil {
		return nil, err
	}
	for {
		chains := oc.BuildChains()
		if latest { // the newest point a window reaches: the last archived entry, usually
			if target, err = catalog.LatestTarget(catalog.RecoveryWindows(bases, chains)); err != nil {
				return nil, err
			}
		}
		plan, err := catalog.PlanRestore(bases, chains, target)
		if err != nil || !oc.Index.Used {
			return plan, err
		}
		err = catalog.ConfirmManifests(ctx, store, prefix, plan.Chunks)
		if !errors.Is(err, catalog.ErrIndexStale) {
			return plan, err
		}
		a.log.Warn("the oplog index is out of date: reading every chunk manifest and planning again", "why", err.Error())
		if oc, err = catalog.ReadOplogCatalogFull(ctx, store, prefix); err != nil {
			return nil, err
		}
	}
}

// verify reads every planned chunk to its end and checks it, writing nothing to the
// database; the chunks are kept in the temporary directory for the replay, as far as the
// cache's bound and the disk allow (the others are downloaded again then).
func (pt *pointInTime) verify(ctx context.Context, a *app) error {
	start := time.Now()
	pt.cache = pitr.NewChunkCache("", 0, a.log)
	ps, err := pitr.ReadPlan(ctx, pt.cache.Filling(pt.store), pt.ids, pt.plan, func(bson.Raw) error { return nil })
	if err != nil {
		pt.close()
		return fmt.Errorf("restore --to-time: %w (checked before the restore: nothing was written)", chunkHint(err))
	}
	kept, keptBytes := pt.cache.Kept()
	a.log.Info("oplog chunks checked", "chunks", len(ps.Chunks), "entries_to_replay", ps.Applied,
		"bytes", ps.StoredBytes, "kept_on_disk", kept, "kept_bytes", keptBytes, "duration_seconds", daemon.Seconds(time.Since(start)))
	return nil
}

// apply is the restore's MoreOplog: the planned chunks' entries, checked as they stream —
// from the disk for the chunks verify kept there.
func (pt *pointInTime) apply(ctx context.Context, fn func(bson.Raw) error) error {
	store := pt.store
	if pt.cache != nil {
		store = pt.cache.Serving(pt.store)
	}
	ps, err := pitr.ReadPlan(ctx, store, pt.ids, pt.plan, fn)
	pt.read = ps
	pt.close()
	if err != nil {
		return chunkHint(err)
	}
	return nil
}

// close removes the chunks kept on disk.
func (pt *pointInTime) close() {
	if pt.cache != nil {
		_ = pt.cache.Close()
	}
}

// openBase opens the plan's base backup, from the catalog the plan was read from.
func (pt *pointInTime) openBase(ctx context.Context) (*source, error) {
	for _, b := range pt.backups {
		if b.Key != pt.plan.Base.Key {
			continue
		}
		r, err := pt.store.Get(ctx, b.Key)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", b.Key, err)
		}
		return &source{ReadCloser: r, name: b.Key, size: b.Size, manifest: b.Manifest}, nil
	}
	return nil, fmt.Errorf("the base backup %s is not in the catalog read", pt.plan.Base.Key)
}

// configure points the restore at the plan's base backup and its replay at the chunks.
func (pt *pointInTime) configure(opts *dump.RestoreOptions) string {
	opts.OplogReplay, opts.OplogRequired, opts.MoreOplog = true, false, pt.apply
	return pt.plan.Base.Key
}

// logPlan logs the plan, and warns when chunks hold less than the restore's scope (the
// database it is limited to, if any): those namespaces are not brought to the target.
func (pt *pointInTime) logPlan(a *app, database string) {
	p := pt.plan
	a.log.Info("point-in-time restore planned", "target", p.Target.String(), "base", p.Base.Key,
		"base_consistent_at", p.Base.ConsistentAt.String(), "chunks", len(p.Chunks))
	warned := map[string]bool{}
	for _, ch := range p.Chunks {
		a.log.Debug("oplog chunk to replay", "key", ch.Key, "after", ch.After.String(), "until", ch.Until.String())
		scope := ch.Manifest.Scope
		if !scope.Equal(catalog.ChunkScope{}) && !scope.Equal(catalog.ChunkScope{Database: database}) && !warned[scope.String()] {
			warned[scope.String()] = true
			a.log.Warn("oplog chunks archived with a namespace selection: only those namespaces are brought to the target, the others stay as the base backup has them",
				"scope", scope.String(), "chunk", ch.Key)
		}
	}
}

// printDryRun prints, after a dry run read everything, what a restore would do.
func (pt *pointInTime) printDryRun(a *app) error {
	p := pt.plan
	fmt.Fprintf(a.stdout, "target:      %s\n", p.Target)
	fmt.Fprintf(a.stdout, "base backup: %s (consistent at %s)\n", p.Base.Key, p.Base.ConsistentAt)
	if p.Window.Base.Key != "" {
		fmt.Fprintf(a.stdout, "window:      %s\n", p.Window)
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "CHUNK\tAFTER\tUNTIL\tENTRIES\tTO REPLAY")
	for i, ch := range p.Chunks {
		var entries, applied int64
		if i < len(pt.read.Chunks) {
			entries, applied = pt.read.Chunks[i].Entries, pt.read.Chunks[i].Applied
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", ch.Key, ch.After, ch.Until, entries, applied)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(a.stdout, "oplog entries to replay from the chunks: %d (%d chunks)\n", pt.read.Applied, len(p.Chunks))
	return err
}

// chunkHint adds to a damaged chunk's error what can be done about it.
func chunkHint(err error) error {
	if errors.Is(err, pitr.ErrChunkDamaged) {
		return fmt.Errorf("%w (the chunk is not the one its manifest describes: restore to a time before it, or from a newer base backup)", err)
	}
	if errors.Is(err, stream.ErrNoIdentity) {
		return usagef("%w (the oplog chunks are encrypted: set AGE_IDENTITY_FILE or --age-identity-file)", err)
	}
	return err
}
