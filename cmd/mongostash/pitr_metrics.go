package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/pitr"
)

// pitrMetrics are read from the archiver's status at each scrape or export, so they are
// never behind it.
type pitrMetrics struct {
	reg    *prometheus.Registry
	labels prometheus.Labels
}

// newPitrMetrics registers the metrics of `mongostash pitr` on database db ("" = all).
func newPitrMetrics(db string, status func() pitr.Status) *pitrMetrics {
	m := &pitrMetrics{reg: prometheus.NewRegistry(), labels: daemon.Labels("pitr", db)}
	m.reg.MustRegister(buildInfo().Collector())
	gauge := func(name, help string, f func(pitr.Status) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: m.labels},
			func() float64 { return f(status()) }))
	}
	counter := func(name, help string, f func(pitr.Status) float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: m.labels},
			func() float64 { return f(status()) }))
	}
	gauge("mongostash_pitr_last_archived_timestamp_seconds", "Oplog time (Unix seconds) up to which the archive is complete: the end of the newest complete chunk (0 before the first).",
		func(s pitr.Status) float64 { return float64(s.LastArchived.T) })
	gauge("mongostash_pitr_newest_oplog_timestamp_seconds", "Oplog time (Unix seconds) of the newest entry the last poll saw.",
		func(s pitr.Status) float64 { return float64(s.Newest.T) })
	gauge("mongostash_pitr_lag_seconds", "How far the archive trails the newest oplog entry, in seconds.",
		func(s pitr.Status) float64 { return s.Lag().Seconds() })
	gauge("mongostash_pitr_open_gap", "1 while a gap found by this process is not followed by a complete base backup (times after it cannot be restored), else 0.",
		func(s pitr.Status) float64 { return boolFloat(s.OpenGap != nil) })
	gauge("mongostash_pitr_failing", "1 while the latest read or upload failed (it is being retried), else 0.",
		func(s pitr.Status) float64 { return boolFloat(s.LastError != "") })
	counter("mongostash_pitr_chunks_total", "Chunks written (made complete) by this process.", func(s pitr.Status) float64 { return float64(s.Chunks) })
	counter("mongostash_pitr_bytes_total", "Stored bytes of the chunks written by this process.", func(s pitr.Status) float64 { return float64(s.Bytes) })
	counter("mongostash_pitr_entries_total", "Oplog entries in the chunks written by this process.", func(s pitr.Status) float64 { return float64(s.Entries) })
	counter("mongostash_pitr_gaps_total", "Gaps in the archived oplog found by this process.", func(s pitr.Status) float64 { return float64(s.Gaps) })
	counter("mongostash_pitr_failures_total", "Failed oplog reads and chunk uploads (each retried).", func(s pitr.Status) float64 { return float64(s.Failures) })
	return m
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pitrHealth answers /healthz for `mongostash pitr`: failing while a gap is open (times
// after it cannot be restored until a new base backup), while reads or uploads fail, and
// while the archive trails the oplog by more than maxLag.
type pitrHealth struct {
	status func() pitr.Status
	maxLag time.Duration
}

func (h *pitrHealth) check(now time.Time) (bool, string) {
	s := h.status()
	const layout = time.RFC3339
	switch {
	case s.OpenGap != nil:
		return false, fmt.Sprintf("gap in the archived oplog after %s (entries up to %s are lost): take a new base backup (mongostash backup) to restore to times after it",
			s.OpenGap.After.Time().Format(layout), s.OpenGap.Resume.Time().Format(layout))
	case s.LastError != "":
		return false, fmt.Sprintf("failing since %s, retrying: %s", s.LastErrorAt.UTC().Format(layout), s.LastError)
	case s.Lag() > h.maxLag:
		return false, fmt.Sprintf("the archive trails the oplog by %s, more than %s", s.Lag(), h.maxLag)
	case s.LastArchived.IsZero() && !s.Newest.IsZero() && now.Sub(s.Started) > h.maxLag:
		return false, fmt.Sprintf("no chunk written in the %s since the start (threshold %s)", now.Sub(s.Started).Round(time.Second), h.maxLag)
	case s.LastArchived.IsZero():
		return true, "ok: no chunk yet"
	default:
		return true, fmt.Sprintf("ok: archived up to %s (%s behind the newest entry)", s.LastArchived.Time().Format(layout), s.Lag())
	}
}

func (h *pitrHealth) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	daemon.WriteHealth(w, h.check)
}
