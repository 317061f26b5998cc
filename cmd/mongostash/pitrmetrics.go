package main

import (
	"github.com/prometheus/client_golang/prometheus"

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
	if db == "" {
		db = "all"
	}
	m := &pitrMetrics{reg: prometheus.NewRegistry(), labels: prometheus.Labels{"operation": "pitr", "database": db}}
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

// asRun is the metrics as the exporter takes them.
func (m *pitrMetrics) asRun() *runMetrics { return &runMetrics{reg: m.reg, labels: m.labels} }

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
