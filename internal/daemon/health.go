package daemon

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// health is what /healthz answers from: the daemon's start and its last finished run.
type health struct {
	mu          sync.Mutex
	started     time.Time
	maxAge      time.Duration
	finished    int       // runs finished
	lastEnd     time.Time // end of the last finished run
	lastFailed  bool
	lastSuccess time.Time
}

func (h *health) record(end time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.finished++
	h.lastEnd = end
	h.lastFailed = err != nil
	if err == nil {
		h.lastSuccess = end
	}
}

// check says whether the daemon is healthy and why. Before its first run has finished the
// daemon counts as healthy for maxAge after its start (so a daily schedule does not fail
// its probes all day), then as unhealthy.
func (h *health) check(now time.Time) (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	const layout = time.RFC3339
	switch {
	case h.finished == 0 && now.Sub(h.started) <= h.maxAge:
		return true, fmt.Sprintf("ok: no run yet (started %s ago; fails after %s without a run)", now.Sub(h.started).Round(time.Second), h.maxAge)
	case h.finished == 0:
		return false, fmt.Sprintf("no run yet: no run finished in the %s since the start (threshold %s)", now.Sub(h.started).Round(time.Second), h.maxAge)
	case h.lastFailed:
		return false, fmt.Sprintf("last run failed at %s (see the log)", h.lastEnd.UTC().Format(layout))
	case now.Sub(h.lastSuccess) > h.maxAge:
		return false, fmt.Sprintf("last success at %s is %s old, more than %s", h.lastSuccess.UTC().Format(layout), now.Sub(h.lastSuccess).Round(time.Second), h.maxAge)
	default:
		return true, fmt.Sprintf("ok: last success at %s (%s ago)", h.lastSuccess.UTC().Format(layout), now.Sub(h.lastSuccess).Round(time.Second))
	}
}

func (h *health) ServeHTTP(w http.ResponseWriter, _ *http.Request) { WriteHealth(w, h.check) }

// WriteHealth answers a health probe: 200 or 503 with check's one-line reason.
func WriteHealth(w http.ResponseWriter, check func(time.Time) (bool, string)) {
	ok, msg := check(time.Now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, msg)
}
