package pitr

import (
	"context"
	"fmt"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
)

// begin finds where archiving starts. The store, never local state, says so: after the
// newest complete chunk when there is one; else at the newest base backup's replay point
// (its consistent point, for a backup with an oplog) while the oplog still holds it, so
// that the first recovery window opens at that backup; else just before the oldest entry.
func (a *Archiver) begin(ctx context.Context) error {
	oc, err := catalog.ReadOplogCatalog(ctx, a.opts.Store, a.opts.Prefix)
	if err != nil {
		return fmt.Errorf("read the archived oplog: %w", err)
	}
	if n := len(oc.Incomplete()); n > 0 {
		a.log.Info("incomplete chunks found (left by uploads that failed; never used, pruned later)", "count", n)
	}
	if oc.Index.Fallback != "" {
		a.log.Info("writing the oplog index (readers then read only what comes after it)", "why", oc.Index.Fallback)
		a.updateIndex(ctx, oc)
	}
	chains := oc.BuildChains()
	if last, ok := chains.Last(); ok {
		chunks := chains.Chains[len(chains.Chains)-1].Chunks
		lastKey := chunks[len(chunks)-1].Key
		a.log.Info("resuming after the last complete chunk", "chunk", lastKey, "since", last.String())
		a.status.update(func(s *Status) { s.LastArchived = last })
		return a.restartChunk(last, last, lastKey, "") // a chunk's Until is an entry it read
	}
	c, err := catalog.ReadCatalog(ctx, a.opts.Store, a.opts.Prefix)
	if err != nil {
		return fmt.Errorf("read the backups: %w", err)
	}
	bases := catalog.BasePoints(c.Backups)
	if len(bases) == 0 {
		return a.floatingStart(ctx, nil)
	}
	if b := bases[len(bases)-1]; b.EmptyOplog {
		return a.floatingStart(ctx, &b)
	}
	since, expect, why, err := a.firstStart(ctx, bases[len(bases)-1])
	if err != nil {
		return err
	}
	a.log.Info("starting a new chain", "since", since.String(), "reason", why)
	return a.restartChunk(since, expect, "", why)
}

// floatingStart starts a chain whose start the first read finds (one query of the oplog
// saved, which on FerretDB reads all of it): at the oplog's beginning when the oplog never
// dropped an entry — so that a base backup taken at an empty oplog, base, opens its window
// there — else just before the oldest entry.
func (a *Archiver) floatingStart(ctx context.Context, base *catalog.BasePoint) error {
	whole, measured, err := a.src.Whole(ctx)
	if err != nil {
		a.log.Warn("could not tell whether the oplog ever dropped an entry: the chain starts just before its oldest entry", "error", err.Error())
	}
	var why string
	switch {
	case whole && base != nil:
		why = "at the oplog's first entry (" + measured + "), where the newest base backup " + base.Key + ", taken at an empty oplog, is consistent"
	case whole:
		why = "at the oplog's first entry (" + measured + "; no base backup yet: take one to make the archive restorable)"
	case base != nil:
		why = "just before the oldest entry the oplog held"
		a.log.Warn("the newest base backup was taken at an empty oplog, but the oplog may have dropped entries since: it cannot be brought forward; take a new base backup",
			"backup", base.Key, "oplog", measured)
	default:
		why = "just before the oldest entry the oplog held (no base backup yet: take one to make the archive restorable)"
	}
	a.log.Info("starting a new chain", "since", "before the oldest entry the first read finds", "reason", why)
	err = a.restartChunk(optime.Timestamp{}, optime.Timestamp{}, "", why)
	a.floating, a.fromFirst = true, whole
	return err
}

// firstStart is the start of the first chain under a prefix when base backup b is the
// newest, the entry the first read must find (zero when unknown), and why it starts there.
func (a *Archiver) firstStart(ctx context.Context, b catalog.BasePoint) (since, expect optime.Timestamp, why string, err error) {
	oldest, _, err := a.src.Oldest(ctx)
	if err != nil {
		return since, expect, "", err
	}
	beforeOldest := "just before the oldest entry the oplog held"
	if !b.ReplayFrom.Before(oldest.Prev()) {
		if b.Oplog {
			expect = b.ReplayFrom // the end of the backup's oplog is an entry
		}
		return b.ReplayFrom, expect, "at the replay point of the newest base backup " + b.Key, nil
	}
	a.log.Warn("the oplog no longer holds the replay point of the newest base backup: archiving starts at the oldest entry, "+
		"so that backup cannot be brought forward; take a new base backup", "backup", b.Key,
		"replay_from", b.ReplayFrom.String(), "oldest_entry", oldest.String())
	return oldest.Prev(), oldest, beforeOldest + " (the newest base backup " + b.Key + " is older than the oplog)", nil
}
