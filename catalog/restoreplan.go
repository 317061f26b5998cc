package catalog

import (
	"errors"
	"fmt"

	"github.com/mongostash/mongostash/optime"
)

// ErrNotRestorable is wrapped by PlanRestore when no base backup and chain of chunks reach
// the target; the message names the hole or the windows that exist.
var ErrNotRestorable = errors.New("catalog: target time not restorable")

// RestorePlan is how to bring a database to Target: restore Base, then replay, chunk by
// chunk, the entries After < ts <= min(Until, Target) of each chunk.
type RestorePlan struct {
	Target optime.Timestamp
	Base   BasePoint
	Chunks []PlannedChunk
	Window Window
}

// PlannedChunk is one chunk of a restore plan and the part of it to apply.
type PlannedChunk struct {
	Chunk
	// After is the exclusive lower bound of the entries to apply: the chunk's Since, or
	// later where the base or an overlapping chunk already covered the start.
	After optime.Timestamp
}

// PlanRestore picks the newest base backup consistent at or before target from which a
// chain covers the oplog up to target, and the chunks to replay. It fails, wrapping
// ErrNotRestorable, when there is none, saying which hole stands in the way or which
// windows exist.
func PlanRestore(bases []BasePoint, cs Chains, target optime.Timestamp) (*RestorePlan, error) {
	windows := RecoveryWindows(bases, cs)
	var newest *BasePoint
	for i := len(bases) - 1; i >= 0; i-- { // newest consistent point first
		b := bases[i]
		if target.Before(b.ConsistentAt) {
			continue
		}
		if newest == nil {
			newest = &bases[i]
		}
		if plan, ok := planFrom(b, cs, target); ok {
			for _, w := range windows {
				if !target.Before(w.From) && !w.To.Before(target) {
					plan.Window = w
				}
			}
			return plan, nil
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("%w: no restorable base backup is consistent at or before %s; %s", ErrNotRestorable, target, DescribeWindows(windows))
	}
	return nil, fmt.Errorf("%w: %s; %s", ErrNotRestorable, whyNot(*newest, cs, target), DescribeWindows(windows))
}

// planFrom plans the replay from base b to target, if one chain covers it.
func planFrom(b BasePoint, cs Chains, target optime.Timestamp) (*RestorePlan, bool) {
	plan := &RestorePlan{Target: target, Base: b}
	if !b.ReplayFrom.Before(target) {
		return plan, true // the base alone is the target
	}
	for _, ch := range cs.Chains {
		if !ch.Covers(b.ReplayFrom, target) {
			continue
		}
		applied := b.ReplayFrom
		for _, c := range ch.Chunks {
			if !c.Until.After(applied) {
				continue // wholly before what the base or earlier chunks hold
			}
			plan.Chunks = append(plan.Chunks, PlannedChunk{Chunk: c, After: later(c.Since, applied)})
			applied = c.Until
			if !applied.Before(target) {
				break
			}
		}
		return plan, true
	}
	return nil, false
}

// whyNot names what stops the replay from base b to target.
func whyNot(b BasePoint, cs Chains, target optime.Timestamp) string {
	i := cs.ChainAt(b.ReplayFrom)
	if i < 0 && b.EmptyOplog {
		return fmt.Sprintf("base backup %s, the newest before the target, was taken at an empty oplog: only a chain of chunks from the oplog's first entry brings it forward, "+
			"and there is none (`mongostash pitr` starts one there while the oplog has never dropped an entry; else take a new base backup)", b.Key)
	}
	if i < 0 {
		return fmt.Sprintf("no oplog chunk covers the consistent point %s of base backup %s, the newest before the target", b.ReplayFrom, b.Key)
	}
	if i < len(cs.Breaks) {
		return fmt.Sprintf("from base backup %s the oplog reaches only %s: %s", b.Key, cs.Chains[i].Until, cs.Breaks[i])
	}
	return fmt.Sprintf("the target %s is later than the last archived oplog entry %s", target, cs.Chains[i].Until)
}

func later(a, b optime.Timestamp) optime.Timestamp {
	if a.After(b) {
		return a
	}
	return b
}
