package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Oplog chunks
//
// ApplyOplog decides which oplog chunks (point-in-time recovery) a prune keeps, given the
// base backups the backup decisions kept. A chunk covers the oplog range (Since, Until];
// chunks whose ranges meet or overlap form a chain, and a chain ends where the next chunk
// starts after its end (a gap or a hole: entries nobody archived). The rules:
//
//   - A chain that holds the consistent point (ReplayFrom) of a kept base backup keeps
//     every complete chunk that reaches past the oldest such point, "needed to replay from
//     base K": from that base, every time up to the chain's end stays restorable. Chunks of
//     the chain wholly before that point are deleted, "before the oldest kept base backup
//     of its chain".
//   - The newest chain keeps all its chunks while it holds no kept base's point, "newest
//     chain, no base backup yet": a backup running now will need them. Older chains
//     without a base are deleted, "no kept base backup before the next gap": nothing can be
//     replayed onto them, and a restore never crosses a gap or hole.
//   - The newest chunk is always kept, "newest chunk: pitr resumes here".
//   - A complete chunk whose range other chunks of its chain already cover is deleted,
//     "redundant: other chunks cover its range", unless a rule above keeps it.
//   - An incomplete chunk (no manifest) younger than the grace period is kept, "incomplete,
//     may be an upload in progress"; an older one is deleted.
//   - A gap marker is kept while a kept complete chunk ends at or before it; it then still
//     separates two chains worth telling apart. Otherwise it is deleted.

// OplogTime is an oplog timestamp packed as seconds<<32 | ordinal, so that it orders as a
// number.
type OplogTime uint64

// PackOplogTime packs seconds and ordinal into an OplogTime.
func PackOplogTime(t, i uint32) OplogTime { return OplogTime(uint64(t)<<32 | uint64(i)) }

// String writes t as an RFC 3339 time and its ordinal.
func (t OplogTime) String() string {
	return fmt.Sprintf("%s#%d", time.Unix(int64(t>>32), 0).UTC().Format(time.RFC3339), uint32(t))
}

// Chunk is one oplog chunk object as the caller listed it.
type Chunk struct {
	Key      string
	Since    OplogTime // exclusive
	Until    OplogTime // inclusive
	Complete bool      // has its manifest
	Modified time.Time // when the object was stored: the age of an incomplete chunk
}

// GapMarker is a recorded gap: the entries between After and Resume were lost.
type GapMarker struct {
	Key    string
	After  OplogTime
	Resume OplogTime
}

// Base is a kept, restorable base backup: the oplog entries after ReplayFrom are replayed
// onto it.
type Base struct {
	Key        string
	ReplayFrom OplogTime
}

// OplogPolicy holds what ApplyOplog needs beyond the catalog.
type OplogPolicy struct {
	// IncompleteGrace is how long an incomplete chunk may be an upload in progress.
	IncompleteGrace time.Duration
}

// ChunkDecision is what ApplyOplog decided for one chunk.
type ChunkDecision struct {
	Chunk   Chunk
	Keep    bool
	Reasons []string // never empty
}

// GapDecision is what ApplyOplog decided for one gap marker.
type GapDecision struct {
	Gap     GapMarker
	Keep    bool
	Reasons []string // never empty
}

// Reason texts shared with tests.
const (
	reasonNewestChunk = "newest chunk: pitr resumes here"
	reasonNewestChain = "newest chain, no base backup yet: a backup running now will need it"
	reasonRedundant   = "redundant: other chunks cover its range"
	reasonNoBase      = "no kept base backup before the next gap or hole: nothing can be replayed onto it"
)

// chain is a run of complete chunks (indexes into the sorted decisions).
type chain struct {
	since, until OplogTime
	members      []int
}

// ApplyOplog decides, for each chunk and gap marker, whether a prune keeps it, given the
// kept base backups. Chunk decisions come in range order, gap decisions too; the inputs are
// not modified.
func ApplyOplog(chunks []Chunk, gaps []GapMarker, bases []Base, p OplogPolicy, now time.Time) ([]ChunkDecision, []GapDecision) {
	ds := make([]ChunkDecision, len(chunks))
	for i, c := range chunks {
		ds[i].Chunk = c
	}
	slices.SortStableFunc(ds, func(a, b ChunkDecision) int { return chunkOrder(a.Chunk, b.Chunk) })
	keep := func(i int, reason string) {
		if !slices.Contains(ds[i].Reasons, reason) {
			ds[i].Keep = true
			ds[i].Reasons = append(ds[i].Reasons, reason)
		}
	}
	chains, redundant := buildChains(ds)
	if n := len(chains); n > 0 {
		last := chains[n-1].members
		keep(last[len(last)-1], reasonNewestChunk)
	}
	for ci, ch := range chains {
		anchor, ok := oldestBaseIn(ch, bases)
		switch {
		case ok:
			for _, i := range ch.members {
				if ds[i].Chunk.Until > anchor.ReplayFrom {
					keep(i, fmt.Sprintf("needed to replay from base %s (%s)", anchor.Key, anchor.ReplayFrom))
				}
			}
		case ci == len(chains)-1:
			for _, i := range ch.members {
				keep(i, reasonNewestChain)
			}
		}
		for _, i := range ch.members {
			if !ds[i].Keep {
				if ok {
					ds[i].Reasons = []string{fmt.Sprintf("before the oldest kept base backup of its chain (%s, %s)", anchor.Key, anchor.ReplayFrom)}
				} else {
					ds[i].Reasons = []string{reasonNoBase}
				}
			}
		}
	}
	for _, i := range redundant {
		if !ds[i].Keep {
			ds[i].Reasons = []string{reasonRedundant}
		}
	}
	decideIncomplete(ds, p, now)
	return ds, decideGaps(gaps, ds)
}

func chunkOrder(a, b Chunk) int {
	switch {
	case a.Since != b.Since:
		return cmp.Compare(a.Since, b.Since)
	case a.Until != b.Until:
		return cmp.Compare(a.Until, b.Until)
	}
	return strings.Compare(a.Key, b.Key)
}

// buildChains arranges the complete chunks of ds (sorted) into chains, as the catalog
// does: a chunk that starts at or before the chain's end extends it, one wholly inside it
// is redundant, one that starts after it begins a new chain.
func buildChains(ds []ChunkDecision) (chains []chain, redundant []int) {
	for i, d := range ds {
		c := d.Chunk
		if !c.Complete {
			continue
		}
		n := len(chains)
		switch {
		case n > 0 && c.Since <= chains[n-1].until && c.Until <= chains[n-1].until:
			redundant = append(redundant, i)
		case n > 0 && c.Since <= chains[n-1].until:
			chains[n-1].members = append(chains[n-1].members, i)
			chains[n-1].until = c.Until
		default:
			chains = append(chains, chain{since: c.Since, until: c.Until, members: []int{i}})
		}
	}
	return chains, redundant
}

// oldestBaseIn returns the kept base with the oldest consistent point inside ch.
func oldestBaseIn(ch chain, bases []Base) (Base, bool) {
	var best Base
	found := false
	for _, b := range bases {
		if b.ReplayFrom < ch.since || b.ReplayFrom > ch.until {
			continue
		}
		if !found || b.ReplayFrom < best.ReplayFrom || (b.ReplayFrom == best.ReplayFrom && b.Key < best.Key) {
			best, found = b, true
		}
	}
	return best, found
}

func decideIncomplete(ds []ChunkDecision, p OplogPolicy, now time.Time) {
	for i := range ds {
		c := ds[i].Chunk
		if c.Complete {
			continue
		}
		if age := now.Sub(c.Modified); age < p.IncompleteGrace {
			ds[i].Keep = true
			ds[i].Reasons = []string{fmt.Sprintf("incomplete (no manifest), younger than %s: may be an upload in progress", p.IncompleteGrace)}
		} else {
			ds[i].Reasons = []string{fmt.Sprintf("incomplete (no manifest) since %s: an upload that died", c.Modified.UTC().Format(time.RFC3339))}
		}
	}
}

// decideGaps keeps a gap marker while a kept complete chunk ends at or before its start.
func decideGaps(gaps []GapMarker, ds []ChunkDecision) []GapDecision {
	out := make([]GapDecision, len(gaps))
	for i, g := range gaps {
		out[i].Gap = g
	}
	slices.SortStableFunc(out, func(a, b GapDecision) int {
		if a.Gap.After != b.Gap.After {
			return cmp.Compare(a.Gap.After, b.Gap.After)
		}
		if a.Gap.Resume != b.Gap.Resume {
			return cmp.Compare(a.Gap.Resume, b.Gap.Resume)
		}
		return strings.Compare(a.Gap.Key, b.Gap.Key)
	})
	for i := range out {
		before := slices.ContainsFunc(ds, func(d ChunkDecision) bool {
			return d.Keep && d.Chunk.Complete && d.Chunk.Until <= out[i].Gap.After
		})
		if before {
			out[i].Keep, out[i].Reasons = true, []string{"kept chunks end before it: it explains the break"}
		} else {
			out[i].Reasons = []string{"no kept chunk before it: it separates nothing"}
		}
	}
	return out
}
