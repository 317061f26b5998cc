package catalog

import (
	"fmt"

	"github.com/mongostash/mongostash/optime"
)

// Chain is a run of complete chunks that together cover every oplog entry in
// (Since, Until] with no hole: each chunk starts at or before the end of the one before it.
// `mongostash pitr` writes chunks that meet exactly (each Since is the previous Until);
// overlapping chunks (two captures of one range) are tolerated, and a restore skips the
// entries it has already applied.
type Chain struct {
	Since  optime.Timestamp
	Until  optime.Timestamp
	Chunks []Chunk // in range order
}

// Covers reports whether the chain holds every entry in (from, to].
func (c Chain) Covers(from, to optime.Timestamp) bool {
	return !from.Before(c.Since) && !c.Until.Before(to)
}

// Break is where one chain ends and the next begins without covering the entries between:
// the oplog entries in (After, Until] are not archived.
type Break struct {
	After optime.Timestamp // the Until of the chain before
	Until optime.Timestamp // the Since of the chain after
	// Gap is the marker recording the break, nil when nothing explains it (a chunk is
	// missing: deleted by hand, or never written).
	Gap *Gap
}

// String describes the break for messages.
func (b Break) String() string {
	if b.Gap != nil {
		return fmt.Sprintf("gap in the oplog from %s to %s (the oplog no longer held the last archived entry; recorded %s)",
			timeOf(b.After), timeOf(b.Until), b.Gap.Key)
	}
	return fmt.Sprintf("hole in the archived oplog from %s to %s (a chunk covering it is missing)", timeOf(b.After), timeOf(b.Until))
}

// Chains is the complete chunks of an oplog catalog arranged into chains.
type Chains struct {
	Chains []Chain // in range order
	Breaks []Break // Breaks[i] lies between Chains[i] and Chains[i+1]
	// Redundant are complete chunks whose whole range the chunks before them already cover.
	Redundant []Chunk
	// Gaps are every recorded gap, also those not between two chains (e.g. after the last).
	Gaps []Gap
}

// BuildChains arranges the complete chunks of c into chains, in range order, and finds the
// breaks between them and the gap markers that explain them.
func (c *OplogCatalog) BuildChains() Chains {
	var out Chains
	out.Gaps = c.Gaps
	for _, ch := range c.Complete() { // sorted by Since, then Until
		n := len(out.Chains)
		switch {
		case n > 0 && !ch.Since.After(out.Chains[n-1].Until) && !ch.Until.After(out.Chains[n-1].Until):
			out.Redundant = append(out.Redundant, ch)
		case n > 0 && !ch.Since.After(out.Chains[n-1].Until):
			last := &out.Chains[n-1]
			last.Chunks = append(last.Chunks, ch)
			last.Until = ch.Until
		default:
			if n > 0 {
				b := Break{After: out.Chains[n-1].Until, Until: ch.Since}
				b.Gap = c.gapWithin(b.After, b.Until)
				out.Breaks = append(out.Breaks, b)
			}
			out.Chains = append(out.Chains, Chain{Since: ch.Since, Until: ch.Until, Chunks: []Chunk{ch}})
		}
	}
	return out
}

// gapWithin returns the recorded gap that best explains missing entries in (after, until]:
// one with exactly those bounds, else any that overlaps them.
func (c *OplogCatalog) gapWithin(after, until optime.Timestamp) *Gap {
	var overlap *Gap
	for i := range c.Gaps {
		g := &c.Gaps[i]
		if g.After == after && g.Resume.Prev() == until {
			return g
		}
		if overlap == nil && g.After.Before(until) && after.Before(g.Resume) {
			overlap = g
		}
	}
	return overlap
}

// ChainAt returns the index of the chain whose range holds ts as a starting point (Since <=
// ts <= Until), or -1.
func (cs Chains) ChainAt(ts optime.Timestamp) int {
	for i, ch := range cs.Chains {
		if !ts.Before(ch.Since) && !ts.After(ch.Until) {
			return i
		}
	}
	return -1
}

// Last is the end of the newest chain: where `mongostash pitr` resumes. ok is false when
// there is no complete chunk.
func (cs Chains) Last() (until optime.Timestamp, ok bool) {
	if len(cs.Chains) == 0 {
		return optime.Timestamp{}, false
	}
	return cs.Chains[len(cs.Chains)-1].Until, true
}
