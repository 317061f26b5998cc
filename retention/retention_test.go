package retention

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// now is the fixed "current time" of the table tests.
var now = mustTime("2026-11-25T12:00")

func mustTime(s string) time.Time {
	t, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// bk builds backups from specs "2026-11-25T10:00"; a trailing "!" marks an incomplete backup.
// The key is the time spec itself, so that the decision lines below read easily.
func bk(specs ...string) []Backup {
	var bs []Backup
	for _, s := range specs {
		incomplete := strings.HasSuffix(s, "!")
		s = strings.TrimSuffix(s, "!")
		bs = append(bs, Backup{Key: s, Time: mustTime(s), Complete: !incomplete})
	}
	return bs
}

// lines renders decisions as "keep|delete <key>: reason; reason", one per decision.
func lines(ds []Decision) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		verb := "delete"
		if d.Keep {
			verb = "keep"
		}
		out = append(out, fmt.Sprintf("%s %s: %s", verb, d.Backup.Key, strings.Join(d.Reasons, "; ")))
	}
	return out
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") == strings.Join(want, "\n") {
		return
	}
	t.Errorf("decisions differ\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}

const day = 24 * time.Hour

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		backups []Backup
		policy  Policy
		now     time.Time
		want    []string
	}{
		{
			name:    "empty input",
			backups: nil,
			policy:  Policy{MaxAge: 30 * day, KeepLast: 3, KeepDaily: 2, MinKeep: 2},
			want:    []string{},
		},
		{
			name:    "zero policy keeps everything",
			backups: bk("2020-01-01T00:00", "2026-11-25T11:00", "2026-11-25T11:30!"),
			want: []string{
				"keep 2026-11-25T11:30: no retention rule set",
				"keep 2026-11-25T11:00: newest complete backup; no retention rule set",
				"keep 2020-01-01T00:00: no retention rule set",
			},
		},
		{
			name:    "min keep alone is not a rule",
			backups: bk("2026-11-25T11:00", "2020-01-01T00:00", "2019-01-01T00:00"),
			policy:  Policy{MinKeep: 2},
			want: []string{
				"keep 2026-11-25T11:00: newest complete backup; min keep 2; no retention rule set",
				"keep 2020-01-01T00:00: min keep 2; no retention rule set",
				"keep 2019-01-01T00:00: no retention rule set",
			},
		},
		{
			name: "seed: max age only, age at max age expires",
			backups: bk("2026-11-25T11:00", "2026-10-26T12:01", "2026-10-26T12:00",
				"2026-10-26T11:59", "2026-01-01T00:00"),
			policy: Policy{MaxAge: 30 * day},
			want: []string{
				"keep 2026-11-25T11:00: newest complete backup; within max age 720h0m0s",
				"keep 2026-10-26T12:01: within max age 720h0m0s",
				"delete 2026-10-26T12:00: older than max age 720h0m0s",
				"delete 2026-10-26T11:59: older than max age 720h0m0s",
				"delete 2026-01-01T00:00: older than max age 720h0m0s",
			},
		},
		{
			name:    "seed: backups stopped, the newest complete one survives",
			backups: bk("2026-09-01T00:00", "2026-09-02T00:00!", "2026-08-01T00:00"),
			policy:  DefaultPolicy(),
			want: []string{
				"delete 2026-09-02T00:00: older than max age 720h0m0s",
				"keep 2026-09-01T00:00: newest complete backup; min keep 1",
				"delete 2026-08-01T00:00: older than max age 720h0m0s",
			},
		},
		{
			name: "min keep counts complete backups only",
			backups: bk("2026-09-05T00:00!", "2026-09-04T00:00", "2026-09-03T00:00!",
				"2026-09-02T00:00", "2026-09-01T00:00", "2026-08-01T00:00"),
			policy: Policy{MaxAge: 30 * day, MinKeep: 3},
			want: []string{
				"delete 2026-09-05T00:00: older than max age 720h0m0s",
				"keep 2026-09-04T00:00: newest complete backup; min keep 3",
				"delete 2026-09-03T00:00: older than max age 720h0m0s",
				"keep 2026-09-02T00:00: min keep 3",
				"keep 2026-09-01T00:00: min keep 3",
				"delete 2026-08-01T00:00: older than max age 720h0m0s",
			},
		},
		{
			name:    "min keep larger than the number of complete backups",
			backups: bk("2026-09-02T00:00", "2026-09-01T00:00!"),
			policy:  Policy{MaxAge: day, MinKeep: 5},
			want: []string{
				"keep 2026-09-02T00:00: newest complete backup; min keep 5",
				"delete 2026-09-01T00:00: older than max age 24h0m0s",
			},
		},
		{
			name:    "no complete backup at all: nothing is safe from the rules",
			backups: bk("2026-09-02T00:00!", "2026-09-01T00:00!"),
			policy:  DefaultPolicy(),
			want: []string{
				"delete 2026-09-02T00:00: older than max age 720h0m0s",
				"delete 2026-09-01T00:00: older than max age 720h0m0s",
			},
		},
		{
			name:    "keep last",
			backups: bk("2026-01-01T00:00", "2026-01-02T00:00!", "2026-01-03T00:00", "2026-01-04T00:00"),
			policy:  Policy{KeepLast: 2},
			want: []string{
				"keep 2026-01-04T00:00: newest complete backup; last 2",
				"keep 2026-01-03T00:00: last 2",
				"delete 2026-01-02T00:00: not selected by any keep rule",
				"delete 2026-01-01T00:00: not selected by any keep rule",
			},
		},
		{
			name:    "keep last takes incomplete backups too",
			backups: bk("2026-01-01T00:00", "2026-01-02T00:00!", "2026-01-03T00:00!"),
			policy:  Policy{KeepLast: 2, MinKeep: 1},
			want: []string{
				"keep 2026-01-03T00:00: last 2",
				"keep 2026-01-02T00:00: last 2",
				"keep 2026-01-01T00:00: newest complete backup; min keep 1",
			},
		},
		{
			name:    "keep last more than exist",
			backups: bk("2026-01-01T00:00", "2026-01-02T00:00"),
			policy:  Policy{KeepLast: 10},
			want: []string{
				"keep 2026-01-02T00:00: newest complete backup; last 10",
				"keep 2026-01-01T00:00: last 10",
			},
		},
		{
			name: "keep hourly: newest of each hour",
			backups: bk("2026-11-25T10:59", "2026-11-25T10:01", "2026-11-25T09:30",
				"2026-11-25T07:00", "2026-11-25T06:59"),
			policy: Policy{KeepHourly: 3},
			want: []string{
				"keep 2026-11-25T10:59: newest complete backup; hourly 2026-11-25T10",
				"delete 2026-11-25T10:01: not selected by any keep rule",
				"keep 2026-11-25T09:30: hourly 2026-11-25T09",
				"keep 2026-11-25T07:00: hourly 2026-11-25T07",
				"delete 2026-11-25T06:59: not selected by any keep rule",
			},
		},
		{
			name: "keep daily skips days without backups",
			backups: bk("2026-11-24T23:00", "2026-11-24T01:00", "2026-11-22T12:00",
				"2026-11-20T00:00", "2026-11-19T23:59"),
			policy: Policy{KeepDaily: 3},
			want: []string{
				"keep 2026-11-24T23:00: newest complete backup; daily 2026-11-24",
				"delete 2026-11-24T01:00: not selected by any keep rule",
				"keep 2026-11-22T12:00: daily 2026-11-22",
				"keep 2026-11-20T00:00: daily 2026-11-20",
				"delete 2026-11-19T23:59: not selected by any keep rule",
			},
		},
		{
			// 2026 starts on a Thursday, so it has an ISO week 53 that runs into 2027.
			name: "keep weekly uses ISO weeks across the year end",
			backups: bk("2027-01-04T00:00", "2027-01-03T23:59", "2026-12-31T00:00",
				"2026-12-27T00:00", "2026-12-21T00:00"),
			policy: Policy{KeepWeekly: 3},
			want: []string{
				"keep 2027-01-04T00:00: newest complete backup; weekly 2027-W01",
				"keep 2027-01-03T23:59: weekly 2026-W53",
				"delete 2026-12-31T00:00: not selected by any keep rule",
				"keep 2026-12-27T00:00: weekly 2026-W52",
				"delete 2026-12-21T00:00: not selected by any keep rule",
			},
		},
		{
			name: "keep monthly and yearly",
			backups: bk("2026-11-01T00:00", "2026-10-31T23:59", "2026-10-01T00:00",
				"2026-01-01T00:00", "2025-12-31T00:00", "2025-06-01T00:00", "2023-05-05T00:00"),
			policy: Policy{KeepMonthly: 2, KeepYearly: 3},
			want: []string{
				"keep 2026-11-01T00:00: newest complete backup; monthly 2026-11; yearly 2026",
				"keep 2026-10-31T23:59: monthly 2026-10",
				"delete 2026-10-01T00:00: not selected by any keep rule",
				"delete 2026-01-01T00:00: not selected by any keep rule",
				"keep 2025-12-31T00:00: yearly 2025",
				"delete 2025-06-01T00:00: not selected by any keep rule",
				"keep 2023-05-05T00:00: yearly 2023",
			},
		},
		{
			name:    "periods are UTC whatever the backup's zone",
			backups: nil, // filled below: 23:30 in UTC-5 is 04:30 the next day in UTC
			policy:  Policy{KeepDaily: 1},
			want: []string{
				"keep late-local: newest complete backup; daily 2026-11-25",
				"delete early-utc: not selected by any keep rule",
			},
		},
		{
			name:    "keep within is relative to the newest backup, not the clock",
			backups: bk("2026-01-10T00:00!", "2026-01-09T00:01", "2026-01-08T00:00", "2026-01-01T00:00"),
			policy:  Policy{KeepWithin: 48 * time.Hour},
			now:     mustTime("2030-01-01T00:00"),
			want: []string{
				"keep 2026-01-10T00:00: within 48h0m0s of newest",
				"keep 2026-01-09T00:01: newest complete backup; within 48h0m0s of newest",
				"delete 2026-01-08T00:00: not selected by any keep rule",
				"delete 2026-01-01T00:00: not selected by any keep rule",
			},
		},
		{
			name: "max age with keep monthly: old monthly backups outlive max age",
			backups: bk("2026-11-25T00:00", "2026-11-20T00:00", "2026-10-31T00:00",
				"2026-10-02T00:00", "2026-09-30T00:00", "2026-08-31T00:00", "2026-08-01T00:00"),
			policy: Policy{MaxAge: 30 * day, KeepMonthly: 3, MinKeep: 1},
			want: []string{
				"keep 2026-11-25T00:00: newest complete backup; min keep 1; monthly 2026-11; within max age 720h0m0s",
				"keep 2026-11-20T00:00: within max age 720h0m0s",
				"keep 2026-10-31T00:00: monthly 2026-10; within max age 720h0m0s",
				"delete 2026-10-02T00:00: older than max age 720h0m0s",
				"keep 2026-09-30T00:00: monthly 2026-09",
				"delete 2026-08-31T00:00: older than max age 720h0m0s",
				"delete 2026-08-01T00:00: older than max age 720h0m0s",
			},
		},
		{
			name: "every rule at once lists every reason",
			backups: bk("2026-11-25T11:00", "2026-11-25T10:00!", "2026-11-24T10:00",
				"2026-11-17T10:00", "2026-10-10T10:00"),
			policy: Policy{MaxAge: day, KeepLast: 2, KeepHourly: 1, KeepDaily: 2, KeepWeekly: 2,
				KeepMonthly: 2, KeepYearly: 1, KeepWithin: 90 * time.Minute, MinKeep: 2},
			want: []string{
				"keep 2026-11-25T11:00: newest complete backup; min keep 2; last 2; hourly 2026-11-25T11; " +
					"daily 2026-11-25; weekly 2026-W48; monthly 2026-11; yearly 2026; " +
					"within 1h30m0s of newest; within max age 24h0m0s",
				"keep 2026-11-25T10:00: last 2; within 1h30m0s of newest; within max age 24h0m0s",
				"keep 2026-11-24T10:00: min keep 2; daily 2026-11-24",
				"keep 2026-11-17T10:00: weekly 2026-W47",
				"keep 2026-10-10T10:00: monthly 2026-10",
			},
		},
		{
			name:    "an incomplete backup can take a period's slot",
			backups: bk("2026-11-24T22:00!", "2026-11-24T21:00", "2026-11-23T21:00"),
			policy:  Policy{KeepDaily: 2},
			want: []string{
				"keep 2026-11-24T22:00: daily 2026-11-24",
				"keep 2026-11-24T21:00: newest complete backup",
				"keep 2026-11-23T21:00: daily 2026-11-23",
			},
		},
		{
			name: "equal times: complete first, then by key",
			backups: []Backup{
				{Key: "c", Time: mustTime("2026-11-25T00:00")},
				{Key: "b", Time: mustTime("2026-11-25T00:00"), Complete: true},
				{Key: "a", Time: mustTime("2026-11-25T00:00")},
				{Key: "z", Time: mustTime("2026-11-25T00:00"), Complete: true},
			},
			policy: Policy{KeepDaily: 1},
			want: []string{
				"keep b: newest complete backup; daily 2026-11-25",
				"delete z: not selected by any keep rule",
				"delete a: not selected by any keep rule",
				"delete c: not selected by any keep rule",
			},
		},
		{
			name:    "backups dated after now are within max age",
			backups: bk("2027-01-01T00:00", "2026-01-01T00:00"),
			policy:  Policy{MaxAge: day, MinKeep: 0},
			want: []string{
				"keep 2027-01-01T00:00: newest complete backup; within max age 24h0m0s",
				"delete 2026-01-01T00:00: older than max age 24h0m0s",
			},
		},
		{
			name:    "negative values count as zero",
			backups: bk("2026-11-25T00:00", "2026-01-01T00:00"),
			policy:  Policy{MaxAge: -day, KeepLast: -1, KeepDaily: 1, KeepWithin: -time.Hour, MinKeep: -3},
			want: []string{
				"keep 2026-11-25T00:00: newest complete backup; daily 2026-11-25",
				"delete 2026-01-01T00:00: not selected by any keep rule",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backups := tt.backups
			if tt.name == "periods are UTC whatever the backup's zone" {
				est := time.FixedZone("UTC-5", -5*3600)
				backups = []Backup{
					{Key: "early-utc", Time: mustTime("2026-11-25T01:00"), Complete: true},
					{Key: "late-local", Time: time.Date(2026, 11, 24, 23, 30, 0, 0, est), Complete: true},
				}
			}
			at := tt.now
			if at.IsZero() {
				at = now
			}
			got := lines(Apply(backups, tt.policy, at))
			diffLines(t, got, tt.want)

			// The input order never matters.
			rev := make([]Backup, len(backups))
			for i, b := range backups {
				rev[len(backups)-1-i] = b
			}
			diffLines(t, lines(Apply(rev, tt.policy, at)), tt.want)
		})
	}
}

// TestApplySeedEquivalence checks the issue's promise: with only a max age, prune deletes
// exactly what the seed deleted (age ≥ max age), except the newest complete backup.
func TestApplySeedEquivalence(t *testing.T) {
	maxAge := DefaultMaxAge
	var backups []Backup
	// Every 6 hours over 90 days, ages straddling the limit, one exactly at it.
	for i := range 4 * 90 {
		ts := now.Add(-time.Duration(i) * 6 * time.Hour)
		backups = append(backups, Backup{Key: ts.Format(time.RFC3339), Time: ts, Complete: i%7 != 3})
	}
	for _, tc := range []struct {
		name string
		now  time.Time
	}{
		{"running", now},
		{"stopped 10 days ago", now.Add(10 * day)},
		{"stopped long ago", now.Add(365 * day)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Apply(backups, Policy{MaxAge: maxAge, MinKeep: 1}, tc.now)
			newestComplete := ""
			for _, d := range ds {
				if d.Backup.Complete {
					newestComplete = d.Backup.Key
					break
				}
			}
			for _, d := range ds {
				seedDeletes := tc.now.Sub(d.Backup.Time) >= maxAge
				got := !d.Keep
				want := seedDeletes && d.Backup.Key != newestComplete
				if got != want {
					t.Errorf("%s: deleted = %v, want %v (age %s)", d.Backup.Key, got, want, tc.now.Sub(d.Backup.Time))
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   string // "" = valid; otherwise every line of the error
	}{
		{"zero", Policy{}, ""},
		{"default", DefaultPolicy(), ""},
		{"everything set", Policy{MaxAge: day, KeepLast: 1, KeepHourly: 1, KeepDaily: 1, KeepWeekly: 1,
			KeepMonthly: 1, KeepYearly: 1, KeepWithin: time.Hour, MinKeep: 3}, ""},
		{"negative max age", Policy{MaxAge: -time.Second},
			"retention: max age must not be negative, got -1s"},
		{"several", Policy{KeepWithin: -time.Hour, KeepDaily: -1, MinKeep: -2},
			"retention: keep within must not be negative, got -1h0m0s\n" +
				"retention: keep daily must not be negative, got -1\n" +
				"retention: min keep must not be negative, got -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGrace: an object without a manifest is never deleted within the grace period,
// whatever the rules (it may be a backup about to write its manifest), and is an ordinary
// incomplete backup after it.
func TestGrace(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := Policy{MaxAge: time.Minute, MinKeep: 1, Grace: 24 * time.Hour}
	backups := []Backup{
		{Key: "complete", Time: now.Add(-2 * time.Minute), Complete: true},
		{Key: "finishing", Time: now.Add(-10 * time.Minute), NoManifest: true, Stored: now.Add(-time.Minute)},
		{Key: "unknown-time", Time: now.Add(-10 * time.Minute), NoManifest: true},
		{Key: "abandoned", Time: now.Add(-50 * time.Hour), NoManifest: true, Stored: now.Add(-49 * time.Hour)},
		{Key: "legacy", Time: now.Add(-60 * time.Hour), Complete: true, NoManifest: true, Stored: now.Add(-60 * time.Hour)},
	}
	got := map[string]Decision{}
	for _, d := range Apply(backups, p, now) {
		got[d.Backup.Key] = d
	}
	for key, keep := range map[string]bool{"complete": true, "finishing": true, "unknown-time": true, "abandoned": false, "legacy": false} {
		if got[key].Keep != keep {
			t.Errorf("%s: keep %v, want %v (%v)", key, got[key].Keep, keep, got[key].Reasons)
		}
	}
	if r := strings.Join(got["finishing"].Reasons, "; "); !strings.Contains(r, "no manifest yet") {
		t.Errorf("finishing kept for %q", r)
	}
	p.Grace = 0
	if d := Apply(backups[1:2], p, now)[0]; d.Keep {
		t.Errorf("without grace, an old enough object without manifest is kept: %v", d.Reasons)
	}
}

func TestPolicyString(t *testing.T) {
	tests := []struct {
		policy Policy
		want   string
	}{
		{Policy{}, "keep everything (no retention rule set), min keep 1"},
		{DefaultPolicy(), "max age 720h0m0s, min keep 1, grace 24h0m0s for objects without a manifest"},
		{Policy{MaxAge: day, KeepLast: 3, KeepHourly: 24, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12,
			KeepYearly: 2, KeepWithin: 36 * time.Hour, MinKeep: 3},
			"max age 24h0m0s, keep last 3, keep hourly 24, keep daily 7, keep weekly 4, keep monthly 12, " +
				"keep yearly 2, keep within 36h0m0s of newest, min keep 3"},
	}
	for _, tt := range tests {
		if got := tt.policy.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.policy, got, tt.want)
		}
	}
}

func TestStale(t *testing.T) {
	tests := []struct {
		name         string
		backups      []Backup
		maxStaleness time.Duration
		wantStale    bool
		wantMsg      string
	}{
		{"no backups", nil, day, true, "no complete backup among 0 backups"},
		{"only incomplete", bk("2026-11-25T11:00!"), day, true, "no complete backup among 1 backups"},
		{"only incomplete, check off", bk("2026-11-25T11:00!"), 0, true, "no complete backup among 1 backups"},
		{"fresh", bk("2026-11-20T00:00", "2026-11-25T11:00", "2026-11-25T11:30!"), day, false,
			"newest complete backup 2026-11-25T11:00 is 1h0m0s old, max staleness 24h0m0s"},
		{"just under", bk("2026-11-24T12:01"), day, false,
			"newest complete backup 2026-11-24T12:01 is 23h59m0s old, max staleness 24h0m0s"},
		{"exactly at the limit is stale", bk("2026-11-24T12:00"), day, true,
			"newest complete backup 2026-11-24T12:00 is 24h0m0s old, max staleness 24h0m0s: backups have stopped"},
		{"an incomplete newer backup does not count", bk("2026-11-25T11:00!", "2026-11-01T00:00"), day, true,
			"newest complete backup 2026-11-01T00:00 is 588h0m0s old, max staleness 24h0m0s: backups have stopped"},
		{"check off", bk("2020-01-01T00:00"), 0, false,
			"newest complete backup 2020-01-01T00:00 is 60492h0m0s old (staleness check off)"},
		{"future", bk("2026-11-25T13:00"), day, false,
			"newest complete backup 2026-11-25T13:00 is dated 1h0m0s in the future, max staleness 24h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotStale, gotMsg := Stale(tt.backups, tt.maxStaleness, now)
			if gotStale != tt.wantStale || gotMsg != tt.wantMsg {
				t.Errorf("Stale() = %v, %q\nwant %v, %q", gotStale, gotMsg, tt.wantStale, tt.wantMsg)
			}
		})
	}
}

func ExampleApply() {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	backups := []Backup{
		{Key: "backup-2026-11-25T02:00:00Z.dump.zst", Time: at("2026-11-25T02:00:00Z"), Complete: true},
		{Key: "backup-2026-11-24T02:00:00Z.dump.zst", Time: at("2026-11-24T02:00:00Z"), Complete: true},
		{Key: "backup-2026-09-30T02:00:00Z.dump", Time: at("2026-09-30T02:00:00Z"), Complete: true},
		{Key: "backup-2026-09-01T02:00:00Z.dump", Time: at("2026-09-01T02:00:00Z"), Complete: true},
	}
	p := Policy{MaxAge: 30 * 24 * time.Hour, KeepMonthly: 3, MinKeep: 1}
	fmt.Println(p)
	for _, d := range Apply(backups, p, at("2026-11-25T12:00:00Z")) {
		fmt.Println(d.Keep, d.Backup.Key, d.Reasons)
	}
	// Output:
	// max age 720h0m0s, keep monthly 3, min keep 1
	// true backup-2026-11-25T02:00:00Z.dump.zst [newest complete backup min keep 1 monthly 2026-11 within max age 720h0m0s]
	// true backup-2026-11-24T02:00:00Z.dump.zst [within max age 720h0m0s]
	// true backup-2026-09-30T02:00:00Z.dump [monthly 2026-09]
	// false backup-2026-09-01T02:00:00Z.dump [older than max age 720h0m0s]
}

// TestApplyLocked: a locked backup the policy would delete is kept until its lock expires,
// saying so and what would have deleted it; a lock never shifts another backup's fate.
func TestApplyLocked(t *testing.T) {
	backups := bk("2026-11-25T10:00", "2026-10-01T10:00", "2026-09-01T10:00", "2026-08-01T10:00", "2026-07-01T10:00!")
	backups[1].LockedUntil = now.Add(time.Hour)       // locked
	backups[2].LockedUntil = now                      // expires right now: not locked
	backups[3].LockedUntil = now.Add(-24 * time.Hour) // expired
	backups[4].LockedUntil = now.Add(48 * time.Hour)  // incomplete, locked
	got := lines(Apply(backups, Policy{MaxAge: 30 * day, MinKeep: 1}, now))
	diffLines(t, got, []string{
		"keep 2026-11-25T10:00: newest complete backup; min keep 1; within max age 720h0m0s",
		"keep 2026-10-01T10:00: locked until 2026-11-25T13:00:00Z; else: older than max age 720h0m0s",
		"delete 2026-09-01T10:00: older than max age 720h0m0s",
		"delete 2026-08-01T10:00: older than max age 720h0m0s",
		"keep 2026-07-01T10:00: locked until 2026-11-27T12:00:00Z; else: older than max age 720h0m0s",
	})
	// KeepLast 2 keeps the two newest, whether or not an older one is locked.
	got = lines(Apply(backups, Policy{KeepLast: 2}, now))
	diffLines(t, got, []string{
		"keep 2026-11-25T10:00: newest complete backup; last 2",
		"keep 2026-10-01T10:00: last 2",
		"delete 2026-09-01T10:00: not selected by any keep rule",
		"delete 2026-08-01T10:00: not selected by any keep rule",
		"keep 2026-07-01T10:00: locked until 2026-11-27T12:00:00Z; else: not selected by any keep rule",
	})
}
