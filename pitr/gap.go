package pitr

import (
	"context"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
)

// lostAfter reports whether the oplog may have lost entries after ts: its oldest entry is
// later than the one right after ts could be. The oplog loses its oldest entries first,
// so while this holds no entry after ts is gone.
func (a *Archiver) lostAfter(ctx context.Context, ts optime.Timestamp) (bool, error) {
	oldest, ok, err := a.src.Oldest(ctx)
	if err != nil || !ok {
		return false, err // an empty oplog lost nothing that could still be read
	}
	return oldest.Prev().After(ts), nil
}

// checkGap, before a read, finds out whether the oplog still holds every entry after the
// current chunk's end. When it does not, the chunk read so far is written, the gap is
// recorded, and a new chain starts just before the oldest entry left.
func (a *Archiver) checkGap(ctx context.Context) error {
	lost, err := a.lostAfter(ctx, a.cur.until)
	if err != nil || !lost {
		return err
	}
	if err := a.flush(ctx); err != nil {
		return err
	}
	oldest, ok, err := a.src.Oldest(ctx)
	if err != nil || !ok {
		return err
	}
	return a.recordGap(ctx, oldest)
}

// recordGap writes the marker of the entries lost after the current chunk's start and
// before resume, the oldest entry left, and starts the new chain.
func (a *Archiver) recordGap(ctx context.Context, resume optime.Timestamp) error {
	after := a.cur.since
	g := &catalog.GapMarker{
		After:      after,
		Resume:     resume,
		DetectedAt: time.Now().UTC(),
		Reason: fmt.Sprintf("the oplog no longer held the entries after the last archived one (its oldest entry is %s): "+
			"mongostash pitr was stopped or behind for longer than the oplog lasts", resume),
	}
	gctx, done := a.lease.guard(ctx)
	key, err := catalog.WriteGapMarker(gctx, a.opts.Store, a.opts.Prefix, g)
	done()
	if err != nil {
		return leaseCause(gctx, err)
	}
	a.log.Error("gap in the archived oplog: the entries after the last archived one are lost; no restore can cross it, "+
		"and times after it need a new base backup taken after it: run `mongostash backup` now",
		"after", after.String(), "resume", resume.String(), "marker", key)
	a.status.update(func(s *Status) {
		s.Gaps++
		s.OpenGap = g
	})
	return a.restartChunk(resume.Prev(), resume, "", "after the gap "+key+": just before the oldest entry the oplog held")
}

// gapResolved reports whether a complete base backup replays from within the chain that
// started after gap g: restores to times after the gap are possible again.
func (a *Archiver) gapResolved(ctx context.Context, g *catalog.GapMarker) (bool, error) {
	c, err := catalog.ReadCatalog(ctx, a.opts.Store, a.opts.Prefix)
	if err != nil {
		return false, err
	}
	for _, b := range catalog.BasePoints(c.Backups) {
		if !b.ReplayFrom.Before(g.Resume.Prev()) {
			return true, nil
		}
	}
	return false, nil
}
