package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/retention"
	"github.com/mongostash/mongostash/storage"
)

// Pruning the archived oplog (point-in-time recovery). retention.ApplyOplog decides, from
// the base backups this prune keeps, which chunks and gap markers stay: every chunk needed
// to reach any time of a kept window from its oldest kept base backup, the newest chain
// whole while no base backup opens it, the newest chunk always (the archiver resumes
// there). As for backups, a chunk's object goes before its manifest, and a manifest only
// when its object went: an interrupted prune leaves at worst a manifest without a chunk
// (an orphan, deleted next time) or a chunk without a manifest (incomplete: never
// replayed), never a chunk that looks complete but is not.

// oplogPrune is the oplog side of one prune.
type oplogPrune struct {
	cat    *catalog.OplogCatalog
	chunks []retention.ChunkDecision
	gaps   []retention.GapDecision
	byKey  map[string]catalog.Chunk
}

// planOplogPrune reads the oplog folder and decides, given the backup decisions.
func planOplogPrune(ctx context.Context, store storage.Store, prefix string, decisions []retention.Decision, backups map[string]catalog.Backup, grace time.Duration, now time.Time) (*oplogPrune, error) {
	oc, err := catalog.ReadOplogCatalog(ctx, store, prefix)
	if err != nil {
		return nil, err
	}
	p := &oplogPrune{cat: oc, byKey: map[string]catalog.Chunk{}}
	var bases []retention.Base
	for _, d := range decisions {
		if !d.Keep {
			continue
		}
		if bp, ok := catalog.BasePointOf(backups[d.Backup.Key]); ok {
			bases = append(bases, retention.Base{Key: bp.Key, ReplayFrom: packTS(bp.ReplayFrom)})
		}
	}
	chunks := make([]retention.Chunk, len(oc.Chunks))
	for i, c := range oc.Chunks {
		p.byKey[c.Key] = c
		chunks[i] = retention.Chunk{Key: c.Key, Since: packTS(c.Since), Until: packTS(c.Until), Complete: c.Complete(), Modified: c.LastModified}
	}
	gaps := make([]retention.GapMarker, len(oc.Gaps))
	for i, g := range oc.Gaps {
		gaps[i] = retention.GapMarker{Key: g.Key, After: packTS(g.After), Resume: packTS(g.Resume)}
	}
	p.chunks, p.gaps = retention.ApplyOplog(chunks, gaps, bases, retention.OplogPolicy{IncompleteGrace: grace}, now)
	return p, nil
}

func packTS(ts optime.Timestamp) retention.OplogTime { return retention.PackOplogTime(ts.T, ts.I) }

// entries are the plan lines of the chunks and gap markers, after the backups'.
func (p *oplogPrune) entries() []planEntry {
	var out []planEntry
	for _, d := range p.chunks {
		c := p.byKey[d.Chunk.Key]
		out = append(out, planEntry{Kind: "oplog-chunk", Key: c.Key, Time: c.Until.Time(), Complete: c.Complete(),
			Action: action(d.Keep), Reasons: d.Reasons})
	}
	for _, d := range p.gaps {
		out = append(out, planEntry{Kind: "gap-marker", Key: d.Gap.Key, Time: time.Unix(int64(d.Gap.After>>32), 0).UTC(),
			Action: action(d.Keep), Reasons: d.Reasons})
	}
	return out
}

func action(keep bool) string {
	if keep {
		return "keep"
	}
	return "delete"
}

// deleteDecided deletes the chunks (objects, then the manifests of those that went), the
// gap markers and the orphan chunk manifests the plan lets go. Every delete is tried; a
// lock is counted, any other refusal fails the run at the end.
func (p *oplogPrune) deleteDecided(ctx context.Context, a *app, store storage.Store, now time.Time) (summary []any, err error) {
	ctx = context.WithoutCancel(ctx) // as for backups: a half-done round is what the order protects against
	objects, gapKeys := p.doomed()
	out, err := deleteReporting(ctx, a, store, "oplog chunk", objects)
	if err != nil {
		return nil, fmt.Errorf("prune: delete oplog chunks: %w", err)
	}
	failures, locked := []error{out.failed}, len(out.locked)
	var manifests []string
	deleted := 0
	for _, k := range objects {
		if c := p.byKey[k]; !out.refused[k] {
			deleted++
			if c.HasManifest {
				manifests = append(manifests, c.ManifestKey)
			}
		}
	}
	orphans, lockedOrphans, err := lockedOrphans(ctx, a, store, p.cat.OrphanManifests, now)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	gone := make([]int, 3)
	for i, step := range []struct {
		what string
		keys []string
	}{{"manifest of a deleted oplog chunk", manifests}, {"gap marker", gapKeys}, {"orphan oplog chunk manifest", orphans}} {
		o, err := deleteReporting(ctx, a, store, step.what, step.keys)
		if err != nil {
			return nil, fmt.Errorf("prune: delete %ss: %w", step.what, err)
		}
		failures, locked = append(failures, o.failed), locked+len(o.locked)
		gone[i] = len(step.keys) - len(o.refused)
	}
	summary = []any{"oplog_chunks_deleted", deleted, "oplog_locked_refused", locked + lockedOrphans,
		"gap_markers_deleted", gone[1], "oplog_orphan_manifests_deleted", gone[2]}
	if err := errors.Join(failures...); err != nil {
		return summary, fmt.Errorf("prune: %d oplog chunks deleted, but not everything: %w", deleted, err)
	}
	return summary, nil
}

// doomed lists the chunks and gap markers the plan deletes.
func (p *oplogPrune) doomed() (chunks, gaps []string) {
	for _, d := range p.chunks {
		if !d.Keep {
			chunks = append(chunks, d.Chunk.Key)
		}
	}
	for _, d := range p.gaps {
		if !d.Keep {
			gaps = append(gaps, d.Gap.Key)
		}
	}
	return chunks, gaps
}
