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

// decode turns arbitrary bytes into a backup set, a policy and a time, so that the fuzzer can
// explore policies and sets together. Times are whole minutes in UTC and durations whole
// hours, so that ages land exactly on policy boundaries often.
func decode(data []byte) ([]Backup, Policy, time.Time) {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	next16 := func() int { return next()<<8 | next() }

	at := now.Add(time.Duration(next()) * time.Hour) // sometimes long after the newest backup
	var p Policy
	flags := next16()
	on := func(bit int) bool { return flags&(1<<bit) != 0 }
	// How far back the backups spread: hours, weeks, months, years.
	span := []int{6, 24 * 14, 24 * 120, 24 * 365 * 6}[next()%4]
	// Durations within the spread, so that they cut through the set and often hit an age
	// exactly.
	if on(0) {
		p.MaxAge = time.Duration(next16()%(span+6)+1) * time.Hour
	}
	if on(1) {
		p.KeepWithin = time.Duration(next16()%(span+6)+1) * time.Hour
	}
	counts := []*int{&p.KeepLast, &p.KeepHourly, &p.KeepDaily, &p.KeepWeekly, &p.KeepMonthly, &p.KeepYearly, &p.MinKeep}
	for i, c := range counts {
		if on(2 + i) {
			*c = next()%8 + 1
		}
	}

	var bs []Backup
	for len(data) >= 4 && len(bs) < 64 {
		hours := next16()%span - 3 // a few lie in the future
		b := next()
		key := fmt.Sprintf("k%02d", next()%40) // duplicate keys happen
		bs = append(bs, Backup{
			Key:      key,
			Time:     at.Add(-time.Duration(hours)*time.Hour - time.Duration(b%4*15)*time.Minute).Add(-time.Duration(next()%3) * 24 * time.Hour),
			Complete: b&0x80 == 0,
		})
	}
	return bs, p, at
}

// checkApply checks every property that Apply promises for one input.
func checkApply(t *testing.T, backups []Backup, p Policy, at time.Time) {
	t.Helper()
	orig := slices.Clone(backups)
	ds := Apply(backups, p, at)
	if !reflect.DeepEqual(backups, orig) {
		t.Fatalf("Apply modified its input")
	}

	// A permutation of the input: nothing added, nothing lost, so nothing outside the
	// candidate set can ever be deleted.
	got := make([]Backup, len(ds))
	for i, d := range ds {
		got[i] = d.Backup
	}
	want := slices.Clone(backups)
	slices.SortStableFunc(want, newerFirst)
	if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions are not the input, newest first\ngot  %v\nwant %v", got, want)
	}

	// Reasons: never empty; a deletion has exactly one, and only deletion texts say "older".
	for _, d := range ds {
		if len(d.Reasons) == 0 {
			t.Fatalf("%v: no reason", d)
		}
		for _, r := range d.Reasons {
			if r == "" {
				t.Fatalf("%v: empty reason", d)
			}
		}
		if !d.Keep && len(d.Reasons) != 1 {
			t.Fatalf("%v: a deletion has one reason", d)
		}
		if d.Keep && slices.ContainsFunc(d.Reasons, func(r string) bool {
			return strings.HasPrefix(r, "older") || r == reasonNotSelected
		}) {
			t.Fatalf("%v: kept with a deletion reason", d)
		}
	}

	// Safety: the newest complete backup and the max(MinKeep, 1) newest complete ones survive.
	floor := max(p.MinKeep, 1)
	seen := 0
	for _, d := range ds {
		if !d.Backup.Complete {
			continue
		}
		if seen < floor && !d.Keep {
			t.Fatalf("complete backup #%d (%v) deleted with min keep %d", seen+1, d.Backup, p.MinKeep)
		}
		if seen == 0 && !slices.Contains(d.Reasons, reasonNewestComplete) {
			t.Fatalf("%v: newest complete backup without its reason", d)
		}
		seen++
	}

	// An independent model of the rules decides the same.
	model := modelKeep(ds, p, at)
	for i, d := range ds {
		if d.Keep != model[i] {
			t.Fatalf("%v: keep = %v, model says %v (policy %+v, now %s)", d.Backup, d.Keep, model[i], p, at)
		}
	}

	// Seed equivalence: with only a max age, delete exactly what is at least max age old,
	// except the safety ones.
	if p.MaxAge > 0 && p == (Policy{MaxAge: p.MaxAge, MinKeep: p.MinKeep}) {
		seen := 0
		for _, d := range ds {
			safe := d.Backup.Complete && seen < floor
			if d.Backup.Complete {
				seen++
			}
			if want := at.Sub(d.Backup.Time) < p.MaxAge || safe; d.Keep != want {
				t.Fatalf("%v: keep = %v, seed rule says %v", d.Backup, d.Keep, want)
			}
		}
	}

	// Idempotent: applying the policy to what it kept keeps all of it.
	var kept []Backup
	for _, d := range ds {
		if d.Keep {
			kept = append(kept, d.Backup)
		}
	}
	for _, d := range Apply(kept, p, at) {
		if !d.Keep {
			t.Fatalf("second pass deletes %v: %v (policy %+v)", d.Backup, d.Reasons, p)
		}
	}

	// Deterministic, whatever the input order.
	shuffled := slices.Clone(backups)
	rand.New(rand.NewPCG(uint64(len(backups)), 1)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	if again := Apply(shuffled, p, at); !reflect.DeepEqual(again, ds) {
		t.Fatalf("Apply depends on the input order")
	}

	// Monotone: loosening any rule of a policy that has one never deletes more.
	if p.hasRule() {
		for _, looser := range []Policy{
			with(p, func(q *Policy) { q.MaxAge += time.Hour }),
			with(p, func(q *Policy) { q.KeepWithin += time.Hour }),
			with(p, func(q *Policy) { q.KeepLast++ }),
			with(p, func(q *Policy) { q.KeepHourly++ }),
			with(p, func(q *Policy) { q.KeepDaily++ }),
			with(p, func(q *Policy) { q.KeepWeekly++ }),
			with(p, func(q *Policy) { q.KeepMonthly++ }),
			with(p, func(q *Policy) { q.KeepYearly++ }),
			with(p, func(q *Policy) { q.MinKeep++ }),
		} {
			for i, d := range Apply(backups, looser, at) {
				if ds[i].Keep && !d.Keep {
					t.Fatalf("looser policy %+v deletes %v that %+v kept", looser, d.Backup, p)
				}
			}
		}
	}
}

func with(p Policy, f func(*Policy)) Policy {
	f(&p)
	return p
}

// modelKeep recomputes the keep decisions for ds (already newest first) straight from the
// rules' definitions, without Apply's single pass over the periods.
func modelKeep(ds []Decision, p Policy, at time.Time) []bool {
	keep := make([]bool, len(ds))
	complete := 0
	for i, d := range ds {
		if d.Backup.Complete {
			if complete < max(p.MinKeep, 1) {
				keep[i] = true
			}
			complete++
		}
	}
	if !p.hasRule() {
		for i := range keep {
			keep[i] = true
		}
		return keep
	}
	periods := []struct {
		n   int
		key func(t time.Time) string
	}{
		{p.KeepHourly, func(t time.Time) string { return t.UTC().Format("2006-01-02 15") }},
		{p.KeepDaily, func(t time.Time) string { return t.UTC().Format("2006-01-02") }},
		{p.KeepWeekly, func(t time.Time) string { y, w := t.UTC().ISOWeek(); return fmt.Sprint(y, w) }},
		{p.KeepMonthly, func(t time.Time) string { return t.UTC().Format("2006-01") }},
		{p.KeepYearly, func(t time.Time) string { return t.UTC().Format("2006") }},
	}
	for i, d := range ds {
		t := d.Backup.Time
		keep[i] = keep[i] || i < p.KeepLast ||
			(p.MaxAge > 0 && at.Sub(t) < p.MaxAge) ||
			(p.KeepWithin > 0 && ds[0].Backup.Time.Sub(t) < p.KeepWithin)
		for _, r := range periods {
			if r.n == 0 {
				continue
			}
			// Kept when no newer backup shares its period and fewer than n newer periods
			// have a backup.
			own := r.key(t)
			newer := map[string]bool{}
			for _, e := range ds[:i] {
				newer[r.key(e.Backup.Time)] = true
			}
			if !newer[own] && len(newer) < r.n {
				keep[i] = true
			}
		}
	}
	return keep
}

// TestApplyProperties runs the property checks over a few thousand generated inputs; the
// fuzz target below explores further with `go test -fuzz FuzzApply ./retention/`.
func TestApplyProperties(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range n {
		data := make([]byte, 12+4*r.IntN(40))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		backups, p, at := decode(data)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkApply(t, backups, p, at) })
		if t.Failed() {
			t.Fatalf("input %x", data)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1, 0, 10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{200, 0xff, 0xff, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0, 5, 0x80, 3, 0, 0, 6, 0, 4, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		backups, p, at := decode(data)
		checkApply(t, backups, p, at)
	})
}
