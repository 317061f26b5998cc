package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
		reasons := d.Reasons
		if c.SupersededBy != 0 {
			// retention takes it for incomplete; say why it is not complete.
			reasons = append([]string{fmt.Sprintf("superseded: written under lease epoch %d by an archiver that had lost the lease, into the range epoch %d writes; never used",
				c.Manifest.LeaseEpoch, c.SupersededBy)}, reasons...)
		}
		out = append(out, planEntry{Kind: "oplog-chunk", Key: c.Key, Time: c.Until.Time(), Complete: c.Complete(),
			Action: action(d.Keep), Reasons: reasons})
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

// indexGarbageAge is how old an index segment the index does not name must be to be
// deleted: a younger one may be a writer's between its segments and its head.
const indexGarbageAge = time.Hour

// deleteDecided deletes the chunks (objects, then the manifests of those that went), the
// gap markers and the orphan chunk manifests the plan lets go — first taking them out of
// the oplog index, which records them as being deleted until they are gone, so that the
// index never describes a deleted chunk and an interrupted prune's leftovers are deleted by
// the next one. Every delete is tried; a lock is counted, any other refusal fails the run
// at the end.
func (p *oplogPrune) deleteDecided(ctx context.Context, a *app, store storage.Store, now time.Time) (summary []any, err error) {
	ctx = context.WithoutCancel(ctx) // as for backups: a half-done round is what the order protects against
	objects, gapKeys := p.doomed()
	orphans, lockedOrphans, err := lockedOrphans(ctx, a, store, p.cat.OrphanManifests, now)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	res, err := p.unindex(ctx, store, slices.Concat(objects, gapKeys, orphans), nil)
	if err != nil {
		return nil, fmt.Errorf("prune: %w (nothing of the archived oplog was deleted)", err)
	}
	pendingObjects, pendingManifests := splitManifests(p.cat.PendingDeletes())
	d := &oplogDeletes{a: a, store: store, gone: map[string]bool{}}
	if err := d.step(ctx, "oplog chunk", slices.Concat(objects, pendingObjects)); err != nil {
		return nil, err
	}
	var manifests []string
	deleted := 0
	for _, k := range objects {
		if c := p.byKey[k]; d.gone[k] {
			deleted++
			if c.HasManifest {
				manifests = append(manifests, c.ManifestKey)
			}
		}
	}
	counts := make([]int, 3)
	for i, step := range []struct {
		what string
		keys []string
	}{{"gap marker", gapKeys}, {"orphan oplog chunk manifest", orphans}, {"unused oplog index segment", p.cat.IndexGarbage(now, indexGarbageAge)}} {
		if err := d.step(ctx, step.what, step.keys); err != nil {
			return nil, err
		}
		counts[i] = d.last
	}
	if err := d.step(ctx, "manifest of a deleted oplog chunk", slices.Concat(manifests, pendingManifests)); err != nil {
		return nil, err
	}
	var cleared []string
	for _, k := range res.Pending {
		if d.gone[k] {
			cleared = append(cleared, k)
		}
	}
	if _, err := p.unindex(ctx, store, nil, cleared); err != nil {
		a.log.Warn("prune: the oplog index still lists the deleted objects as being deleted (the next prune deletes them again)", "error", err.Error())
	}
	summary = []any{"oplog_chunks_deleted", deleted, "oplog_locked_refused", d.locked + lockedOrphans,
		"gap_markers_deleted", counts[0], "oplog_orphan_manifests_deleted", counts[1], "oplog_index_segments_deleted", counts[2]}
	if err := errors.Join(d.failures...); err != nil {
		return summary, fmt.Errorf("prune: %d oplog chunks deleted, but not everything: %w", deleted, err)
	}
	return summary, nil
}

// oplogDeletes runs the deletes of the archived oplog, keeping what went and what not.
type oplogDeletes struct {
	a        *app
	store    storage.Store
	gone     map[string]bool // keys deleted
	last     int             // keys deleted by the last step
	locked   int
	failures []error
}

// step deletes keys; a refusal is counted, any other failure of the store's stops it.
func (d *oplogDeletes) step(ctx context.Context, what string, keys []string) error {
	o, err := deleteReporting(ctx, d.a, d.store, what, keys)
	if err != nil {
		return fmt.Errorf("prune: delete %ss: %w", what, err)
	}
	d.failures, d.locked, d.last = append(d.failures, o.failed), d.locked+len(o.locked), 0
	for _, k := range keys {
		if !o.refused[k] {
			d.gone[k] = true
			d.last++
		}
	}
	return nil
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

// unindex updates the oplog index: remove are keys about to be deleted, which it stops
// describing (recording them as being deleted), and clear those of them that went, which
// it forgets. With no index yet it builds one from the catalog read (prune reads the whole
// folder then), so that the next reads are fast.
func (p *oplogPrune) unindex(ctx context.Context, store storage.Store, remove, clear []string) (catalog.IndexResult, error) {
	u := catalog.IndexUpdate{Remove: remove, WrittenBy: "prune", ClearPending: clear}
	if p.cat.Index.Fallback != "" && clear == nil { // the first update: the folder as read
		u.Full = p.cat
	}
	return catalog.UpdateOplogIndex(ctx, store, p.cat.Prefix, u)
}

// splitManifests separates the manifests among keys from the objects.
func splitManifests(keys []string) (objects, manifests []string) {
	for _, k := range keys {
		if strings.HasSuffix(k, catalog.ManifestSuffix) {
			manifests = append(manifests, k)
		} else {
			objects = append(objects, k)
		}
	}
	return objects, manifests
}
