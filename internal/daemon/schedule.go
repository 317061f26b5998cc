package daemon

import (
	"fmt"
	"time"
	// The scratch image has no zoneinfo: embed it, so that CRON_TZ=Europe/Berlin works.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// ParseSchedule accepts standard 5-field cron specs (with an optional CRON_TZ=Zone prefix)
// and descriptors such as @daily and @every 6h.
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v (want 5-field cron like '0 */6 * * *', or '@every 6h', '@daily')", spec, err)
	}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", spec)
	}
	return s, nil
}

// longestGap is the longest time between two of the next scheduled runs, which the
// default health threshold doubles.
func longestGap(s cron.Schedule, from time.Time) time.Duration {
	var gap time.Duration
	t := s.Next(from)
	for range 60 {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		gap = max(gap, n.Sub(t))
		t = n
	}
	return gap
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
