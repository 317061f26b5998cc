package daemon

import (
	"math"
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
}

// BuildInfo is the binary's version, as mongostash_build_info labels it.
type BuildInfo struct {
	Version, Commit, GoVersion string
}

// Collector is the gauge mongostash_build_info: always 1, labelled with the version, the
// commit and the Go version, so that a dashboard or an alert can tell which binary ran.
func (b BuildInfo) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mongostash_build_info", Help: "Always 1; the labels say which mongostash binary this is.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}

// NewRunMetrics creates the metrics of operation op on database db ("" = all), built as
// build says. Failures are runs_total{result="failure"}; there is no separate counter.
func NewRunMetrics(op, db string, build BuildInfo) *RunMetrics {
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
	}
	m.Registry.MustRegister(m.lastSuccess, m.lastRunOK, m.duration, m.bytes, m.runs, build.Collector())
	if op != "prune" {
		m.documents = gauge("mongostash_last_run_documents", "Documents of the last successful run.")
		m.Registry.MustRegister(m.documents)
	}
	// The counters exist from the start, so that rate() and increase() see their first step.
	m.runs.MustCurryWith(m.Labels).WithLabelValues("success")
	m.runs.MustCurryWith(m.Labels).WithLabelValues("failure")
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

// Seconds is d in seconds, to the millisecond: how logs give durations, as numbers that a
// log pipeline can sum and compare (duration_seconds).
func Seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// MBPerSecond is n bytes over d in MB/s (10^6 bytes), to a tenth: throughput_mb_s.
func MBPerSecond(n int64, d time.Duration) float64 {
	return math.Round(float64(n)/1e6/max(d.Seconds(), 1e-9)*10) / 10
}
