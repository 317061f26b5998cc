package daemon

import (
	"strings"
	"testing"
	"time"
)

// TestParseSchedule: standard cron, descriptors and CRON_TZ are accepted (the zone from
// the embedded zoneinfo, as in the scratch image); anything else is refused.
func TestParseSchedule(t *testing.T) {
	cases := map[string]bool{
		"0 */6 * * *":                      true,
		"30 3 * * 1-5":                     true,
		"@every 6h":                        true,
		"@every 90m":                       true,
		"@daily":                           true,
		"@hourly":                          true,
		"CRON_TZ=Europe/Berlin 30 3 * * *": true,
		"":                                 false,
		"0 0 3 * * *":                      false, // six fields (seconds) are not standard cron
		"61 * * * *":                       false,
		"@every nonsense":                  false,
		"CRON_TZ=Mars/Olympus 0 3 * * *":   false,
		"0 0 30 2 *":                       false, // never fires
	}
	for spec, want := range cases {
		t.Run(spec, func(t *testing.T) {
			_, err := ParseSchedule(spec)
			if got := err == nil; got != want {
				t.Errorf("ParseSchedule(%q) error %v, want ok=%v", spec, err, want)
			}
		})
	}
}

// TestLongestGap: the default health threshold is twice this.
func TestLongestGap(t *testing.T) {
	from := time.Date(2026, 11, 25, 10, 17, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"@every 6h":    6 * time.Hour,
		"0 */6 * * *":  6 * time.Hour,
		"0 3 * * *":    24 * time.Hour,
		"0 3 * * 1":    7 * 24 * time.Hour,
		"0 3 * * 1-5":  3 * 24 * time.Hour, // Friday to Monday
		"@every 1s":    time.Second,
		"0 9,17 * * *": 16 * time.Hour,
	}
	for spec, want := range cases {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := longestGap(s, from); got != want {
			t.Errorf("longestGap(%q) = %s, want %s", spec, got, want)
		}
	}
}

// TestHealthCheck: what /healthz says in each state.
func TestHealthCheck(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	h := func(finished int, lastFailed bool, lastSuccess time.Time) *health {
		return &health{started: start, maxAge: time.Hour, finished: finished, lastEnd: start.Add(time.Minute), lastFailed: lastFailed, lastSuccess: lastSuccess}
	}
	cases := map[string]struct {
		h      *health
		now    time.Time
		wantOK bool
		want   string
	}{
		"no run yet, just started":     {h(0, false, time.Time{}), start.Add(time.Minute), true, "no run yet"},
		"no run yet, past threshold":   {h(0, false, time.Time{}), start.Add(61 * time.Minute), false, "no run yet"},
		"last run failed":              {h(2, true, start.Add(-time.Minute)), start.Add(2 * time.Minute), false, "last run failed"},
		"first run failed":             {h(1, true, time.Time{}), start.Add(2 * time.Minute), false, "last run failed"},
		"fresh success":                {h(1, false, start.Add(time.Minute)), start.Add(30 * time.Minute), true, "ok: last success"},
		"success exactly at threshold": {h(1, false, start.Add(time.Minute)), start.Add(61 * time.Minute), true, "ok: last success"},
		"stale success":                {h(1, false, start.Add(time.Minute)), start.Add(62 * time.Minute), false, "more than 1h0m0s"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ok, msg := tc.h.check(tc.now)
			if ok != tc.wantOK || !strings.Contains(msg, tc.want) {
				t.Errorf("check = %v %q, want %v and %q", ok, msg, tc.wantOK, tc.want)
			}
		})
	}
}
