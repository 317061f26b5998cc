package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage/mem"
)

// chainsOf stores the given chunks (complete unless listed in incomplete) and gap markers
// and returns the catalog's chains.
func chainsOf(t *testing.T, chunks [][2]optime.Timestamp, gaps [][2]optime.Timestamp, incomplete ...int) (Chains, []string) {
	t.Helper()
	s := mem.New()
	var keys []string
	for i, c := range chunks {
		keys = append(keys, putChunk(t, s, "", c[0], c[1], !contains(incomplete, i)))
	}
	for _, g := range gaps {
		if _, err := WriteGapMarker(t.Context(), s, "", &GapMarker{After: g[0], Resume: g[1]}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := ReadOplogCatalog(t.Context(), s, "")
	if err != nil {
		t.Fatal(err)
	}
	return c.BuildChains(), keys
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func rangesOf(cs Chains) string {
	var parts []string
	for _, ch := range cs.Chains {
		parts = append(parts, rangeStr(ch.Since, ch.Until, len(ch.Chunks)))
	}
	return strings.Join(parts, " ")
}

func rangeStr(a, b optime.Timestamp, n int) string {
	return "(" + itoa(a.T-ts(0, 0).T) + "," + itoa(b.T-ts(0, 0).T) + "]x" + itoa(uint32(n))
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestBuildChains(t *testing.T) {
	for _, tc := range []struct {
		name       string
		chunks     [][2]optime.Timestamp
		gaps       [][2]optime.Timestamp
		incomplete []int
		want       string
		breaks     []string // "gap" or "hole" per break
		redundant  int
	}{
		{name: "contiguous", chunks: [][2]optime.Timestamp{{ts(0, 0), ts(10, 0)}, {ts(10, 0), ts(20, 0)}, {ts(20, 0), ts(30, 0)}}, want: "(0,30]x3"},
		{name: "hole", chunks: [][2]optime.Timestamp{{ts(0, 0), ts(10, 0)}, {ts(20, 0), ts(30, 0)}}, want: "(0,10]x1 (20,30]x1", breaks: []string{"hole"}},
		{name: "incomplete chunk is a hole", chunks: [][2]optime.Timestamp{{ts(0, 0), ts(10, 0)}, {ts(10, 0), ts(20, 0)}, {ts(20, 0), ts(30, 0)}}, incomplete: []int{1}, want: "(0,10]x1 (20,30]x1", breaks: []string{"hole"}},
		{name: "recorded gap", chunks: [][2]optime.Timestamp{{ts(0, 0), ts(10, 0)}, {ts(25, 0).Prev(), ts(40, 0)}}, gaps: [][2]optime.Timestamp{{ts(10, 0), ts(25, 0)}}, want: "(0,10]x1 (24,40]x1", breaks: []string{"gap"}},
		{name: "overlap extends", chunks: [][2]optime.Timestamp{{ts(0, 0), ts(10, 0)}, {ts(5, 0), ts(15, 0)}}, want: "(0,15]x2"},
		{name: "redundant", chunks: [][2]optime.Timestamp{{ts(0, 0), ts(10, 0)}, {ts(2, 0), ts(8, 0)}, {ts(10, 0), ts(12, 0)}}, want: "(0,12]x2", redundant: 1},
		{name: "ordinals matter", chunks: [][2]optime.Timestamp{{ts(0, 0), ts(10, 3)}, {ts(10, 4), ts(12, 0)}}, want: "(0,10]x1 (10,12]x1", breaks: []string{"hole"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, _ := chainsOf(t, tc.chunks, tc.gaps, tc.incomplete...)
			if got := rangesOf(cs); got != tc.want {
				t.Errorf("chains %s, want %s", got, tc.want)
			}
			if len(cs.Breaks) != len(tc.breaks) {
				t.Fatalf("%d breaks, want %d", len(cs.Breaks), len(tc.breaks))
			}
			for i, b := range cs.Breaks {
				kind := "hole"
				if b.Gap != nil {
					kind = "gap"
				}
				if kind != tc.breaks[i] || !strings.Contains(b.String(), kind) {
					t.Errorf("break %d: %s, want a %s", i, b, tc.breaks[i])
				}
			}
			if len(cs.Redundant) != tc.redundant {
				t.Errorf("%d redundant chunks, want %d", len(cs.Redundant), tc.redundant)
			}
		})
	}
}

// oplogBase is a base backup consistent at the end of its own oplog.
func oplogBase(key string, end optime.Timestamp) BasePoint {
	return BasePoint{Key: key, ReplayFrom: end, ConsistentAt: end, Oplog: true}
}

func TestPlanRestore(t *testing.T) {
	// Chain 1: (0,30] in three chunks; a recorded gap; chain 2: (49,max], (50,0]..(70,0].
	cs, keys := chainsOf(t, [][2]optime.Timestamp{
		{ts(0, 0), ts(10, 0)}, {ts(10, 0), ts(20, 0)}, {ts(20, 0), ts(30, 0)},
		{ts(50, 0).Prev(), ts(60, 0)}, {ts(60, 0), ts(70, 0)},
	}, [][2]optime.Timestamp{{ts(30, 0), ts(50, 0)}})
	b1 := oplogBase("b1", ts(5, 0))
	b2 := oplogBase("b2", ts(15, 0))
	b3 := oplogBase("b3", ts(65, 0))
	bases := []BasePoint{b1, b2, b3}

	ws := RecoveryWindows(bases, cs)
	if len(ws) != 2 || ws[0].From != ts(5, 0) || ws[0].To != ts(30, 0) || ws[0].Base.Key != "b1" || len(ws[0].Bases) != 2 ||
		ws[1].From != ts(65, 0) || ws[1].To != ts(70, 0) || ws[1].Base.Key != "b3" {
		t.Fatalf("windows: %+v", ws)
	}
	if latest, err := LatestTarget(ws); err != nil || latest != ts(70, 0) {
		t.Errorf("LatestTarget = %v, %v; want the end of the newest window %v", latest, err, ts(70, 0))
	}
	if latest, err := LatestTarget(ws[:1]); err != nil || latest != ts(30, 0) {
		t.Errorf("LatestTarget of the first window = %v, %v; want %v", latest, err, ts(30, 0))
	}
	if _, err := LatestTarget(nil); !errors.Is(err, ErrNotRestorable) || !strings.Contains(err.Error(), "no recovery window exists") {
		t.Errorf("LatestTarget without windows = %v, want ErrNotRestorable saying no window exists", err)
	}
	if last, ok := ws[0].LastSecond(); !ok || !last.Equal(ts(29, 0).Time()) {
		t.Errorf("last whole second of (…, %v]: %v, want %v (the second of To may hold later entries)", ws[0].To, last, ts(29, 0).Time())
	}

	for _, tc := range []struct {
		name   string
		target optime.Timestamp
		base   string
		chunks []int              // indexes into keys
		after  []optime.Timestamp // the After of each planned chunk
		err    string
	}{
		{name: "within the first chunk", target: ts(8, 0), base: "b1", chunks: []int{0}, after: []optime.Timestamp{ts(5, 0)}},
		{name: "across chunks from the newest base", target: ts(25, 0), base: "b2", chunks: []int{1, 2}, after: []optime.Timestamp{ts(15, 0), ts(20, 0)}},
		{name: "end of the chain", target: ts(30, 0), base: "b2", chunks: []int{1, 2}, after: []optime.Timestamp{ts(15, 0), ts(20, 0)}},
		{name: "a base alone", target: ts(15, 0), base: "b2"},
		{name: "before every base", target: ts(4, 0), err: "no restorable base backup is consistent at or before"},
		{name: "inside the gap", target: ts(40, 0), err: "gap in the oplog from"},
		{name: "after the gap, before its first base", target: ts(62, 0), err: "gap in the oplog from"},
		{name: "after the gap from its base", target: ts(68, 0), base: "b3", chunks: []int{4}, after: []optime.Timestamp{ts(65, 0)}},
		{name: "later than the last entry", target: optime.EndOfSecond(ts(70, 0).Time()), err: "later than the last archived oplog entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := PlanRestore(bases, cs, tc.target)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrNotRestorable) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("PlanRestore(%v) = %v, want ErrNotRestorable mentioning %q", tc.target, err, tc.err)
				}
				if !strings.Contains(err.Error(), "recovery windows: restorable to any second from") {
					t.Errorf("the refusal does not list the windows: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Base.Key != tc.base || len(plan.Chunks) != len(tc.chunks) {
				t.Fatalf("plan: base %s, %d chunks; want %s, %d", plan.Base.Key, len(plan.Chunks), tc.base, len(tc.chunks))
			}
			for i, c := range plan.Chunks {
				if c.Key != keys[tc.chunks[i]] || c.After != tc.after[i] {
					t.Errorf("chunk %d: %s after %v, want %s after %v", i, c.Key, c.After, keys[tc.chunks[i]], tc.after[i])
				}
			}
		})
	}
}

func TestPlanRestoreHoleAndOverlap(t *testing.T) {
	cs, keys := chainsOf(t, [][2]optime.Timestamp{
		{ts(0, 0), ts(10, 0)}, {ts(8, 0), ts(20, 0)}, // overlapping captures
		{ts(30, 0), ts(40, 0)}, // after a hole (20,30]
	}, nil)
	b := oplogBase("b", ts(2, 0))
	plan, err := PlanRestore([]BasePoint{b}, cs, ts(15, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Chunks) != 2 || plan.Chunks[0].Key != keys[0] || plan.Chunks[1].Key != keys[1] || plan.Chunks[1].After != ts(10, 0) {
		t.Errorf("overlap: %+v; want the second chunk applied after the first's end", plan.Chunks)
	}
	_, err = PlanRestore([]BasePoint{b}, cs, ts(35, 0))
	if err == nil || !strings.Contains(err.Error(), "hole in the archived oplog from") || !strings.Contains(err.Error(), ts(20, 0).Time().Format(time.RFC3339)) {
		t.Errorf("target behind a hole: %v, want the hole named", err)
	}
}

func TestBasePointOf(t *testing.T) {
	start := time.Date(2026, 11, 25, 18, 0, 0, 400e6, time.UTC)
	finish := start.Add(90 * time.Second)
	complete := Backup{BackupName: BackupName{Key: "k", Time: start}, Size: 10,
		Manifest: &Manifest{Size: 10, StartedAt: start, FinishedAt: finish}, HasManifest: true}
	p, ok := BasePointOf(complete)
	if !ok || p.Oplog {
		t.Fatalf("complete backup without oplog: %+v %v", p, ok)
	}
	// Replay starts before the start by the clock margin; consistency is only claimed from
	// the whole second after finish plus margin.
	if !p.ReplayFrom.Before(optime.StartOfSecond(start.Add(-ClockMargin))) || p.ReplayFrom.Before(optime.StartOfSecond(start.Add(-ClockMargin)).Prev()) {
		t.Errorf("ReplayFrom %v, want just before %v", p.ReplayFrom, start.Add(-ClockMargin))
	}
	if want := optime.StartOfSecond(finish.Add(ClockMargin + time.Second)); p.ConsistentAt != want {
		t.Errorf("ConsistentAt %v, want %v", p.ConsistentAt, want)
	}
	withOplog := complete
	m := *complete.Manifest
	m.Oplog = &OplogRange{Start: ts(0, 1), End: ts(90, 7), Entries: 12}
	withOplog.Manifest = &m
	if p, ok := BasePointOf(withOplog); !ok || !p.Oplog || p.ReplayFrom != ts(90, 7) || p.ConsistentAt != ts(90, 7) {
		t.Errorf("oplog backup: %+v %v, want consistent and replayed from its oplog's end", p, ok)
	}
	legacy := Backup{BackupName: BackupName{Key: "s", Time: start, Seed: true}, LastModified: finish}
	if p, ok := BasePointOf(legacy); !ok || p.ConsistentAt != optime.StartOfSecond(finish.Add(ClockMargin+time.Second)) {
		t.Errorf("legacy backup: %+v %v, want consistent after its upload", p, ok)
	}
	incomplete := Backup{BackupName: BackupName{Key: "i", Time: start}, Size: 10}
	if _, ok := BasePointOf(incomplete); ok {
		t.Error("an incomplete backup is a base point")
	}
	if got := consistentFromClock(time.Date(2026, 1, 1, 0, 0, 8, 0, time.UTC)); got != optime.StartOfSecond(time.Date(2026, 1, 1, 0, 0, 8, 0, time.UTC).Add(ClockMargin)) {
		t.Errorf("a whole-second finish is rounded up: %v", got)
	}
}
