// Package retention decides which backups a prune may delete: a pure function from
// (backups, policy, now) to one keep-or-delete decision per backup, each with its reasons.
// ApplyOplog does the same for the oplog chunks of point-in-time recovery, given the base
// backups kept (see oplog.go for its rules).
//
// It must never do I/O, read the clock, or know about S3, MongoDB or how object keys are
// spelled; the caller lists the backups, passes the time, and acts on the decisions. It must
// never decide to delete the newest complete backup, never leave fewer than MinKeep complete
// backups, and never return a decision for anything it was not given.
//
// # Rules
//
// Every rule is a keep rule, OR-ed together as in restic's forget and kopia: a backup is kept
// when at least one rule selects it, and deleted only when none does. A decision lists every
// rule that selects the backup; a deletion says why nothing kept it.
//
//   - MaxAge: a backup whose age (now − Time) is below MaxAge is kept, "within max age D".
//     MaxAge never deletes by itself: a backup with age ≥ MaxAge is deleted ("older than max
//     age D") only if no other rule keeps it. With MaxAge as the only rule this is exactly the
//     seed's prune (age ≥ max age expires), except for the two safety rules below.
//   - KeepLast N: the N newest backups, "last N".
//   - KeepHourly/KeepDaily/KeepWeekly/KeepMonthly/KeepYearly N: for each of the N most recent
//     calendar periods (UTC hour, day, ISO 8601 week, month, year) that contain a backup, the
//     newest backup of that period, e.g. "daily 2026-11-24", "weekly 2026-W48". Periods without
//     a backup are skipped, so N counts periods that have one, as in restic.
//   - KeepWithin D: every backup less than D older than the newest backup of the set (not the
//     clock, so a stopped backup job never makes it delete anything), "within D of newest".
//   - Safety, applied whatever the policy: the newest complete backup is always kept
//     ("newest complete backup"), and so are the MinKeep newest complete backups ("min keep N").
//     MinKeep is therefore a floor: fewer than MinKeep complete backups remain only when fewer
//     than MinKeep exist.
//   - A policy without any rule (MaxAge, KeepWithin and every Keep count zero) keeps everything,
//     "no retention rule set"; MinKeep is not a rule in this sense.
//   - Grace, applied whatever the policy: an object without a manifest stored less than Grace
//     before now is kept, "no manifest yet": it may be a backup between its upload and its
//     manifest, which a prune must never delete from under the backup writing it.
//
// Durations compare strictly: "within D" means a difference below D, matching the seed's
// "age ≥ max age expires".
//
// # Incomplete backups
//
// A backup with Complete false (e.g. one of ours whose manifest is missing) is an ordinary
// backup for MaxAge, KeepLast, the calendar rules and KeepWithin: it can be selected, it takes a
// KeepLast place or a period's slot when it is the newest there, and it can be the newest backup
// that KeepWithin measures from. It never counts for the safety rules: it is never "the newest
// complete backup" and never one of the MinKeep.
//
// # Order and ties
//
// Decisions come newest first. Backups with equal times are ordered complete first, then by
// key, so the result does not depend on the order of the input. Apply treats negative policy
// values as zero; call Validate first to reject them.
//
// # Locks
//
// A backup whose LockedUntil is after now (S3 Object Lock: the store refuses to delete it
// before then) is never deleted: when no rule keeps it, it is kept with the reason "locked
// until <time>", followed by what would otherwise have deleted it. A lock never counts for
// the rules: a locked backup takes no KeepLast place it did not already have.
//
// Apply does not look at staleness: when backups have stopped, MaxAge alone would let every
// backup but the safety ones expire. The caller must check Stale first and delete nothing when
// it reports true.
package retention

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Backup is one backup object as the caller listed it.
type Backup struct {
	Key  string    // the object key, only carried through and used to break ties
	Time time.Time // when the backup was taken (from its name or manifest)
	// Complete reports a backup known to be whole: one with a valid manifest, or a seed-era
	// object that never had one. Only complete backups count for the safety rules.
	Complete bool
	// LockedUntil is when the store's lock on the backup (or on its manifest) expires; zero
	// when it has none. Until then the backup is never deleted.
	LockedUntil time.Time
	// NoManifest reports an object without a manifest, stored at Stored (zero: unknown,
	// which Grace treats as just now).
	NoManifest bool
	Stored     time.Time
}

// Policy says which backups to keep; the zero Policy keeps everything.
type Policy struct {
	MaxAge time.Duration // keep backups younger than this at now; 0 = off

	KeepLast    int // keep the N newest backups
	KeepHourly  int // keep the newest backup of each of the N most recent UTC hours having one
	KeepDaily   int // same for UTC days
	KeepWeekly  int // same for ISO 8601 weeks (Monday to Sunday, UTC)
	KeepMonthly int // same for UTC calendar months
	KeepYearly  int // same for UTC calendar years

	KeepWithin time.Duration // keep backups less than this older than the newest backup; 0 = off

	// MinKeep is how many of the newest complete backups are always kept. The newest complete
	// backup is kept even when MinKeep is 0.
	MinKeep int

	// Grace is how long an object without a manifest is kept after it was stored, whatever
	// the rules: a backup may still be about to write its manifest.
	Grace time.Duration
}

// DefaultMaxAge is the seed's default S3_BACKUP_MAX_AGE, 2592000 seconds (30 days).
const DefaultMaxAge = 2592000 * time.Second

// DefaultGrace is the default Grace: a day, as long as unfinished uploads are kept.
const DefaultGrace = 24 * time.Hour

// DefaultPolicy returns the seed's policy: MaxAge of DefaultMaxAge, MinKeep 1, and Grace of
// DefaultGrace.
func DefaultPolicy() Policy {
	return Policy{MaxAge: DefaultMaxAge, MinKeep: 1, Grace: DefaultGrace}
}

// Decision is what Apply decided for one backup.
type Decision struct {
	Backup  Backup
	Keep    bool
	Reasons []string // never empty: every rule that keeps it, or why nothing did
}

// Reason texts, shared with tests so that a change of wording is one edit.
const (
	reasonNewestComplete = "newest complete backup"
	reasonNoRule         = "no retention rule set"
	reasonNotSelected    = "not selected by any keep rule"
)

// Validate reports every negative value in p.
func (p Policy) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"max age", p.MaxAge}, {"keep within", p.KeepWithin}, {"grace", p.Grace}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("retention: %s must not be negative, got %s", d.name, d.v))
		}
	}
	for _, c := range []struct {
		name string
		v    int
	}{
		{"keep last", p.KeepLast}, {"keep hourly", p.KeepHourly}, {"keep daily", p.KeepDaily},
		{"keep weekly", p.KeepWeekly}, {"keep monthly", p.KeepMonthly},
		{"keep yearly", p.KeepYearly}, {"min keep", p.MinKeep},
	} {
		if c.v < 0 {
			errs = append(errs, fmt.Errorf("retention: %s must not be negative, got %d", c.name, c.v))
		}
	}
	return errors.Join(errs...)
}

// String summarises p for logs and --dry-run output, e.g.
// "max age 720h0m0s, keep last 3, keep daily 7, min keep 1".
func (p Policy) String() string {
	p = p.clamped()
	var parts []string
	if !p.hasRule() {
		parts = append(parts, "keep everything (no retention rule set)")
	}
	if p.MaxAge > 0 {
		parts = append(parts, "max age "+p.MaxAge.String())
	}
	if p.KeepLast > 0 {
		parts = append(parts, fmt.Sprintf("keep last %d", p.KeepLast))
	}
	for _, r := range p.periodRules() {
		parts = append(parts, fmt.Sprintf("keep %s %d", r.name, r.n))
	}
	if p.KeepWithin > 0 {
		parts = append(parts, fmt.Sprintf("keep within %s of newest", p.KeepWithin))
	}
	parts = append(parts, fmt.Sprintf("min keep %d", max(p.MinKeep, 1)))
	if p.Grace > 0 {
		parts = append(parts, "grace "+p.Grace.String()+" for objects without a manifest")
	}
	return strings.Join(parts, ", ")
}

// clamped returns p with negative values replaced by zero.
func (p Policy) clamped() Policy {
	p.MaxAge = max(p.MaxAge, 0)
	p.KeepWithin = max(p.KeepWithin, 0)
	p.KeepLast = max(p.KeepLast, 0)
	p.KeepHourly = max(p.KeepHourly, 0)
	p.KeepDaily = max(p.KeepDaily, 0)
	p.KeepWeekly = max(p.KeepWeekly, 0)
	p.KeepMonthly = max(p.KeepMonthly, 0)
	p.KeepYearly = max(p.KeepYearly, 0)
	p.MinKeep = max(p.MinKeep, 0)
	p.Grace = max(p.Grace, 0)
	return p
}

// hasRule reports whether p selects anything at all; without a rule everything is kept.
func (p Policy) hasRule() bool {
	return p.MaxAge > 0 || p.KeepWithin > 0 || p.KeepLast > 0 || len(p.periodRules()) > 0
}

// periodRule is one calendar rule: keep the newest backup of each of the n most recent periods.
type periodRule struct {
	name string // "hourly", "daily", …, the first word of its reason
	n    int
	// period returns a key equal for two times exactly when they fall in the same period,
	// and the label used in the reason.
	period func(t time.Time) (key [3]int, label string)
}

// periodRules returns the calendar rules p enables, from the shortest period to the longest.
func (p Policy) periodRules() []periodRule {
	all := []periodRule{
		{"hourly", p.KeepHourly, func(t time.Time) ([3]int, string) {
			// UTC hours are whole multiples of 3600 s since the epoch (Go has no leap seconds).
			u := t.Unix()
			h := u / 3600
			if u%3600 < 0 {
				h--
			}
			return [3]int{int(h)}, t.UTC().Format("2006-01-02T15")
		}},
		{"daily", p.KeepDaily, func(t time.Time) ([3]int, string) {
			y, m, d := t.UTC().Date()
			return [3]int{y, int(m), d}, t.UTC().Format("2006-01-02")
		}},
		{"weekly", p.KeepWeekly, func(t time.Time) ([3]int, string) {
			y, w := t.UTC().ISOWeek()
			return [3]int{y, w}, fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{"monthly", p.KeepMonthly, func(t time.Time) ([3]int, string) {
			y, m, _ := t.UTC().Date()
			return [3]int{y, int(m)}, t.UTC().Format("2006-01")
		}},
		{"yearly", p.KeepYearly, func(t time.Time) ([3]int, string) {
			y := t.UTC().Year()
			return [3]int{y}, fmt.Sprintf("%04d", y)
		}},
	}
	return slices.DeleteFunc(all, func(r periodRule) bool { return r.n <= 0 })
}

// newerFirst orders backups newest first; equal times put complete backups first, then
// order by key, so that sorting does not depend on the input order.
func newerFirst(a, b Backup) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	if a.Complete != b.Complete {
		if a.Complete {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Key, b.Key)
}

// Apply decides, for each of backups, whether p keeps it at time now. It returns one
// decision per backup, newest first, and does not modify backups.
func Apply(backups []Backup, p Policy, now time.Time) []Decision {
	p = p.clamped()
	ds := decisions(make([]Decision, len(backups)))
	for i, b := range backups {
		ds[i].Backup = b
	}
	slices.SortStableFunc(ds, func(a, b Decision) int { return newerFirst(a.Backup, b.Backup) })
	// Safety first, so that these reasons lead the list.
	ds.keepSafe(p, now)
	if !p.hasRule() {
		for i := range ds {
			ds.keep(i, reasonNoRule)
		}
		return ds
	}
	for i := range min(p.KeepLast, len(ds)) {
		ds.keep(i, fmt.Sprintf("last %d", p.KeepLast))
	}
	for _, r := range p.periodRules() {
		ds.keepPeriods(r)
	}
	if p.KeepWithin > 0 && len(ds) > 0 {
		newest := ds[0].Backup.Time
		for i := range ds {
			if newest.Sub(ds[i].Backup.Time) < p.KeepWithin {
				ds.keep(i, fmt.Sprintf("within %s of newest", p.KeepWithin))
			}
		}
	}
	if p.MaxAge > 0 {
		for i := range ds {
			if now.Sub(ds[i].Backup.Time) < p.MaxAge {
				ds.keep(i, "within max age "+p.MaxAge.String())
			}
		}
	}
	ds.decideRest(p, now)
	return ds
}

// decisions are Apply's decisions, newest backup first, as it builds them.
type decisions []Decision

func (ds decisions) keep(i int, reason string) {
	ds[i].Keep = true
	ds[i].Reasons = append(ds[i].Reasons, reason)
}

// keepSafe keeps what no policy may delete: the newest complete backup, MinKeep complete
// ones, and objects without a manifest within the grace period.
func (ds decisions) keepSafe(p Policy, now time.Time) {
	complete := 0
	for i := range ds {
		if !ds[i].Backup.Complete {
			continue
		}
		if complete == 0 {
			ds.keep(i, reasonNewestComplete)
		}
		if complete < p.MinKeep {
			ds.keep(i, fmt.Sprintf("min keep %d", p.MinKeep))
		}
		complete++
	}
	for i := range ds {
		b := ds[i].Backup
		if b.NoManifest && p.Grace > 0 && (b.Stored.IsZero() || now.Sub(b.Stored) < p.Grace) {
			ds.keep(i, fmt.Sprintf("no manifest yet, within the grace of %s: a backup may still be finishing", p.Grace))
		}
	}
}

// keepPeriods keeps the newest backup of each of the last r.n periods that have one.
func (ds decisions) keepPeriods(r periodRule) {
	left := r.n
	var last [3]int
	for i := range ds {
		if left == 0 {
			break
		}
		key, label := r.period(ds[i].Backup.Time)
		if i > 0 && key == last {
			continue // an older backup of a period already served by a newer one
		}
		last = key
		ds.keep(i, r.name+" "+label)
		left--
	}
}

// decideRest gives every backup no rule kept its reason to go, or keeps it when the store
// locks it past now.
func (ds decisions) decideRest(p Policy, now time.Time) {
	for i := range ds {
		if ds[i].Keep {
			continue
		}
		why := reasonNotSelected
		if p.MaxAge > 0 {
			// Every backup younger than MaxAge was kept above, so this one is at least as old.
			why = "older than max age " + p.MaxAge.String()
		}
		if until := ds[i].Backup.LockedUntil; until.After(now) {
			ds[i].Keep = true
			ds[i].Reasons = []string{LockedReason(until), "else: " + why}
			continue
		}
		ds[i].Reasons = []string{why}
	}
}

// LockedReason is the reason of a backup kept because the store locks it until until.
func LockedReason(until time.Time) string {
	return "locked until " + until.UTC().Format(time.RFC3339)
}

// Stale reports whether the newest complete backup is older than maxStaleness at now (age ≥
// maxStaleness, as for MaxAge), or there is no complete backup at all; a prune must then delete
// nothing, because backups have stopped working and expiring old ones would destroy the last
// good copies. maxStaleness ≤ 0 turns the age check off, but not the check for no complete
// backup. The message says why, in either case.
func Stale(backups []Backup, maxStaleness time.Duration, now time.Time) (bool, string) {
	var newest Backup
	found := false
	for _, b := range backups {
		if b.Complete && (!found || newerFirst(b, newest) < 0) {
			newest, found = b, true
		}
	}
	if !found {
		return true, fmt.Sprintf("no complete backup among %d backups", len(backups))
	}
	age := now.Sub(newest.Time)
	var desc string
	if age < 0 {
		desc = fmt.Sprintf("newest complete backup %s is dated %s in the future",
			newest.Key, newest.Time.Sub(now).Round(time.Second))
	} else {
		desc = fmt.Sprintf("newest complete backup %s is %s old", newest.Key, age.Round(time.Second))
	}
	if maxStaleness <= 0 {
		return false, desc + " (staleness check off)"
	}
	if age >= maxStaleness {
		return true, fmt.Sprintf("%s, max staleness %s: backups have stopped", desc, maxStaleness)
	}
	return false, fmt.Sprintf("%s, max staleness %s", desc, maxStaleness)
}
