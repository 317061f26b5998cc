package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RunMetrics are the metrics of one operation in a registry of their own (never the global
// one, whose Go and process metrics would clash with node_exporter's in a textfile).
type RunMetrics struct {
	Registry *prometheus.Registry
	Labels   prometheus.Labels // operation, database

	lastSuccess *prometheus.GaugeVec
	lastRunOK   *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	bytes       *prometheus.GaugeVec
	documents   *prometheus.GaugeVec // nil for operations without documents (prune)
	runs        *prometheus.CounterVec
	failures    *prometheus.CounterVec
}

// NewRunMetrics creates the metrics of operation op on database db ("" = all).
func NewRunMetrics(op, db string) *RunMetrics {
	labels := []string{"operation", "database"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m := &RunMetrics{
		Registry:    prometheus.NewRegistry(),
		Labels:      Labels(op, db),
		lastSuccess: gauge("mongostash_last_success_timestamp_seconds", "Unix time the last successful run finished (absent until one has)."),
		lastRunOK:   gauge("mongostash_last_run_success", "1 if the last run succeeded, 0 if it failed."),
		duration:    gauge("mongostash_last_run_duration_seconds", "How long the last run took, successful or not."),
		bytes:       gauge("mongostash_last_run_bytes", "Bytes of the last successful run: stored by a backup, deleted by a prune, read by a restore."),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongostash_runs_total", Help: "Runs finished, by result (success or failure).",
		}, append(labels, "result")),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mongostash_failures_total", Help: "Runs that failed.",
		}, labels),
	}
	m.Registry.MustRegister(m.lastSuccess, m.lastRunOK, m.duration, m.bytes, m.runs, m.failures)
	if op != "prune" {
		m.documents = gauge("mongostash_last_run_documents", "Documents of the last successful run.")
		m.Registry.MustRegister(m.documents)
	}
	// The counters exist from the start, so that rate() and increase() see their first step.
	m.runs.MustCurryWith(m.Labels).WithLabelValues("success")
	m.runs.MustCurryWith(m.Labels).WithLabelValues("failure")
	m.failures.With(m.Labels)
	return m
}

// Labels are the labels of operation op's metrics on database db ("" = all).
func Labels(op, db string) prometheus.Labels {
	if db == "" {
		db = "all"
	}
	return prometheus.Labels{"operation": op, "database": db}
}

// Observe records a run that ended at end. A failure leaves the last success (and the
// size of the last successful run) as they were.
func (m *RunMetrics) Observe(end time.Time, dur time.Duration, res Result, err error) {
	m.duration.With(m.Labels).Set(dur.Seconds())
	runs := m.runs.MustCurryWith(m.Labels)
	if err != nil {
		m.lastRunOK.With(m.Labels).Set(0)
		runs.WithLabelValues("failure").Inc()
		m.failures.With(m.Labels).Inc()
		return
	}
	m.lastRunOK.With(m.Labels).Set(1)
	runs.WithLabelValues("success").Inc()
	m.lastSuccess.With(m.Labels).Set(float64(end.UnixNano()) / 1e9)
	m.bytes.With(m.Labels).Set(float64(res.Bytes))
	if m.documents != nil {
		m.documents.With(m.Labels).Set(float64(res.Documents))
	}
}
