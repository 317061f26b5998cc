package retention

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// oplogInput is one generated prune input for ApplyOplog.
type oplogInput struct {
	chunks []Chunk
	gaps   []GapMarker
	bases  []Base
	policy OplogPolicy
	now    time.Time
}

// decodeOplog turns arbitrary bytes into chunks laid along a timeline — meeting, overlapping,
// redundant, after holes or recorded gaps, some incomplete — with base backups at points
// on and off the chunks, so that the fuzzer explores layouts and base sets together.
func decodeOplog(data []byte) oplogInput {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	in := oplogInput{policy: OplogPolicy{IncompleteGrace: time.Duration(next()%4) * time.Hour}, now: now}
	pos := PackOplogTime(uint32(now.Add(-72*time.Hour).Unix()), 0)
	step := func() OplogTime { return OplogTime(next()%5+1) << 32 }
	for len(data) >= 3 && len(in.chunks) < 40 {
		kind, size, flags := next(), step(), next()
		since := pos
		switch kind % 8 {
		case 0: // a hole: the next chunk starts later
			since = pos + step()
		case 1: // a recorded gap before the next chunk
			resume := pos + step()
			in.gaps = append(in.gaps, GapMarker{Key: fmt.Sprintf("g%02d", len(in.gaps)), After: pos, Resume: resume})
			since = resume - 1
		case 2: // overlapping the chunk before
			if pos > size {
				since = pos - size/2
			}
		case 3: // redundant: inside what is already covered
			if pos > size {
				in.chunks = append(in.chunks, Chunk{Key: fmt.Sprintf("r%02d", len(in.chunks)), Since: pos - size, Until: pos - size/2, Complete: true})
			}
		}
		until := since + size
		c := Chunk{Key: fmt.Sprintf("c%02d", len(in.chunks)), Since: since, Until: until, Complete: flags%7 != 0,
			Modified: now.Add(-time.Duration(flags%5) * time.Hour)}
		in.chunks = append(in.chunks, c)
		if until > pos {
			pos = until
		}
		if flags%3 == 0 { // a base backup: on a chunk's range, or in a hole
			at := since + OplogTime(next())%(size+1)
			if flags%2 == 0 {
				at = pos + OplogTime(next()%3)<<32
			}
			in.bases = append(in.bases, Base{Key: fmt.Sprintf("b%02d", len(in.bases)), ReplayFrom: at})
		}
	}
	return in
}

// reach is the model of what a base can be restored to: from its point, extend over any
// complete chunk that starts at or before the end reached so far and ends after it.
func reach(b Base, chunks []Chunk) OplogTime {
	end := b.ReplayFrom
	for {
		best := end
		for _, c := range chunks {
			if c.Complete && c.Since <= end && c.Until > best {
				best = c.Until
			}
		}
		if best == end {
			return end
		}
		end = best
	}
}

func keptChunks(ds []ChunkDecision) []Chunk {
	var out []Chunk
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.Chunk)
		}
	}
	return out
}

func checkApplyOplog(t *testing.T, in oplogInput) {
	t.Helper()
	orig := slices.Clone(in.chunks)
	ds, gds := ApplyOplog(in.chunks, in.gaps, in.bases, in.policy, in.now)
	if !reflect.DeepEqual(in.chunks, orig) {
		t.Fatal("ApplyOplog modified its input")
	}
	// One decision per chunk, in range order; one per gap marker.
	want := slices.Clone(in.chunks)
	slices.SortStableFunc(want, chunkOrder)
	got := make([]Chunk, len(ds))
	for i, d := range ds {
		got[i] = d.Chunk
	}
	if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions are not the input in range order")
	}
	if len(gds) != len(in.gaps) {
		t.Fatalf("%d gap decisions for %d gaps", len(gds), len(in.gaps))
	}
	for _, d := range ds {
		if len(d.Reasons) == 0 || slices.Contains(d.Reasons, "") || (!d.Keep && len(d.Reasons) != 1) {
			t.Fatalf("%+v: a decision needs reasons, a deletion exactly one", d)
		}
	}

	// Safety: every base reaches as far with the kept chunks as with all of them.
	kept := keptChunks(ds)
	for _, b := range in.bases {
		if all, left := reach(b, in.chunks), reach(b, kept); all != left {
			t.Fatalf("base %s (%s) reached %s with every chunk, only %s after the prune", b.Key, b.ReplayFrom, all, left)
		}
	}
	// The newest complete chunk survives; so does the newest chain while it has no base.
	var newest *ChunkDecision
	for i := range ds {
		if ds[i].Chunk.Complete && (newest == nil || ds[i].Chunk.Until > newest.Chunk.Until) {
			newest = &ds[i]
		}
	}
	if newest != nil && !newest.Keep {
		t.Fatalf("newest chunk %s deleted", newest.Chunk.Key)
	}
	// Kept complete chunks are each needed: by a base's replay, or the newest chain.
	for _, d := range ds {
		if !d.Keep || !d.Chunk.Complete {
			continue
		}
		needed := slices.ContainsFunc(in.bases, func(b Base) bool {
			return d.Chunk.Until > b.ReplayFrom && d.Chunk.Since <= reach(b, in.chunks) && reach(b, in.chunks) > b.ReplayFrom
		})
		if !needed && !slices.Contains(d.Reasons, reasonNewestChain) && !slices.Contains(d.Reasons, reasonNewestChunk) {
			t.Fatalf("%s kept (%v) but no base replays it", d.Chunk.Key, d.Reasons)
		}
	}
	// Incomplete chunks: kept exactly while younger than the grace period.
	for _, d := range ds {
		if !d.Chunk.Complete && d.Keep != (in.now.Sub(d.Chunk.Modified) < in.policy.IncompleteGrace) {
			t.Fatalf("incomplete %s aged %s: keep = %v with grace %s", d.Chunk.Key, in.now.Sub(d.Chunk.Modified), d.Keep, in.policy.IncompleteGrace)
		}
	}

	// Idempotent: pruning what was kept keeps all of it.
	var keptGaps []GapMarker
	for _, g := range gds {
		if g.Keep {
			keptGaps = append(keptGaps, g.Gap)
		}
	}
	again, againGaps := ApplyOplog(kept, keptGaps, in.bases, in.policy, in.now)
	for _, d := range again {
		if !d.Keep {
			t.Fatalf("second pass deletes %s: %v", d.Chunk.Key, d.Reasons)
		}
	}
	for _, g := range againGaps {
		if !g.Keep {
			t.Fatalf("second pass deletes gap %s: %v", g.Gap.Key, g.Reasons)
		}
	}
	// Deterministic whatever the input order.
	shuffled := slices.Clone(in.chunks)
	rand.New(rand.NewPCG(uint64(len(shuffled)), 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if d2, _ := ApplyOplog(shuffled, in.gaps, in.bases, in.policy, in.now); !reflect.DeepEqual(d2, ds) {
		t.Fatal("ApplyOplog depends on the input order")
	}
	// Monotone: one more kept base never deletes a chunk another base needed. (It may
	// delete what the newest chain kept only for a base backup still to come.)
	for _, extra := range in.chunks {
		more := append(slices.Clone(in.bases), Base{Key: "extra", ReplayFrom: extra.Since})
		d2, _ := ApplyOplog(in.chunks, in.gaps, more, in.policy, in.now)
		for i := range d2 {
			if ds[i].Keep && !d2[i].Keep && !slices.Equal(ds[i].Reasons, []string{reasonNewestChain}) {
				t.Fatalf("an extra base at %s deletes %s", extra.Since, d2[i].Chunk.Key)
			}
		}
	}
}

func TestApplyOplogProperties(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(15, 15))
	for i := range n {
		data := make([]byte, 4+3*r.IntN(40))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		in := decodeOplog(data)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkApplyOplog(t, in) })
		if t.Failed() {
			t.Fatalf("input %x", data)
		}
	}
}

func FuzzApplyOplog(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 4, 1, 3, 4, 0, 6, 0, 2, 1, 3, 0, 9, 7, 2, 3, 3})
	f.Add([]byte{0, 5, 2, 6, 1, 3, 12, 2, 4, 9, 3, 3, 6, 0, 3, 1, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) { checkApplyOplog(t, decodeOplog(data)) })
}

// TestApplyOplogReasons pins the decisions of one layout: base, chain, gap, baseless chain,
// newest chain.
func TestApplyOplogReasons(t *testing.T) {
	h := func(n int) OplogTime { return PackOplogTime(uint32(now.Unix())-100000+uint32(n)*3600, 0) }
	chunks := []Chunk{
		{Key: "a", Since: h(0), Until: h(1), Complete: true},
		{Key: "b", Since: h(1), Until: h(2), Complete: true}, // base b1 at h(1)+…
		{Key: "c", Since: h(2), Until: h(3), Complete: true},
		// gap
		{Key: "d", Since: h(5), Until: h(6), Complete: true}, // baseless chain between gaps
		// hole
		{Key: "e", Since: h(8), Until: h(9), Complete: true}, // newest chain, no base
		{Key: "f", Since: h(9), Until: h(10), Complete: false, Modified: now.Add(-30 * time.Minute)},
		{Key: "g", Since: h(9), Until: h(10), Complete: false, Modified: now.Add(-3 * time.Hour)},
	}
	gaps := []GapMarker{{Key: "gap1", After: h(3), Resume: h(5) + 1}, {Key: "gap0", After: h(-5), Resume: h(-1)}}
	bases := []Base{{Key: "b1", ReplayFrom: h(1) + 5}}
	ds, gds := ApplyOplog(chunks, gaps, bases, OplogPolicy{IncompleteGrace: time.Hour}, now)
	var lines []string
	for _, d := range ds {
		lines = append(lines, fmt.Sprintf("%s %v %s", d.Chunk.Key, d.Keep, strings.Join(d.Reasons, "; ")))
	}
	for _, g := range gds {
		lines = append(lines, fmt.Sprintf("%s %v %s", g.Gap.Key, g.Keep, strings.Join(g.Reasons, "; ")))
	}
	wantPrefixes := []string{
		"a false before the oldest kept base backup of its chain (b1",
		"b true needed to replay from base b1",
		"c true needed to replay from base b1",
		"d false " + reasonNoBase,
		"e true " + reasonNewestChunk + "; " + reasonNewestChain,
		"f true incomplete (no manifest), younger than 1h0m0s",
		"g false incomplete (no manifest) since",
		"gap0 false no kept chunk before it",
		"gap1 true kept chunks end before it",
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("decisions:\n%s", strings.Join(lines, "\n"))
	}
	for i, w := range wantPrefixes {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("decision %d: %q, want it to start with %q", i, lines[i], w)
		}
	}
}
