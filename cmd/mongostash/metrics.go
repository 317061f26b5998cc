package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// runMetrics are the metrics of one operation in its own registry (never the global one,
// whose Go and process metrics would clash with node_exporter's in a textfile).
type runMetrics struct {
	reg    *prometheus.Registry
	labels prometheus.Labels // operation, database

	lastSuccess *prometheus.GaugeVec
	lastRunOK   *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	bytes       *prometheus.GaugeVec
	documents   *prometheus.GaugeVec // nil for operations without documents (prune)
	runs        *prometheus.CounterVec
	failures    *prometheus.CounterVec
}

// newRunMetrics creates the metrics of operation op on database db ("" = all).
func newRunMetrics(op, db string) *runMetrics {
	if db == "" {
		db = "all"
	}
	labels := []string{"operation", "database"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m := &runMetrics{
		reg:         prometheus.NewRegistry(),
		labels:      prometheus.Labels{"operation": op, "database": db},
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
	m.reg.MustRegister(m.lastSuccess, m.lastRunOK, m.duration, m.bytes, m.runs, m.failures)
	if op != "prune" {
		m.documents = gauge("mongostash_last_run_documents", "Documents of the last successful run.")
		m.reg.MustRegister(m.documents)
	}
	// The counters exist from the start, so that rate() and increase() see their first step.
	m.runs.MustCurryWith(m.labels).WithLabelValues("success")
	m.runs.MustCurryWith(m.labels).WithLabelValues("failure")
	m.failures.With(m.labels)
	return m
}

// observe records a run that ended at end. A failure leaves the last success (and the
// size of the last successful run) as they were.
func (m *runMetrics) observe(end time.Time, dur time.Duration, res runResult, err error) {
	m.duration.With(m.labels).Set(dur.Seconds())
	runs := m.runs.MustCurryWith(m.labels)
	if err != nil {
		m.lastRunOK.With(m.labels).Set(0)
		runs.WithLabelValues("failure").Inc()
		m.failures.With(m.labels).Inc()
		return
	}
	m.lastRunOK.With(m.labels).Set(1)
	runs.WithLabelValues("success").Inc()
	m.lastSuccess.With(m.labels).Set(float64(end.UnixNano()) / 1e9)
	m.bytes.With(m.labels).Set(float64(res.Bytes))
	if m.documents != nil {
		m.documents.With(m.labels).Set(float64(res.Documents))
	}
}

// exporter writes the metrics out after each run: to a textfile and/or a Pushgateway.
type exporter struct {
	file string
	push string
}

// newExporter checks the destinations before anything runs, so that a typo fails at once
// and not after an hour-long backup.
func newExporter(a *app, f *DaemonFlags) (exporter, error) {
	e := exporter{file: f.MetricsFile, push: f.Pushgateway}
	if e.file != "" {
		dir := filepath.Dir(e.file)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return e, usagef("--metrics-file %s: the directory %s does not exist", e.file, dir)
		}
	}
	if e.push != "" {
		raw := e.push
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return e, usagef("--pushgateway %s: want a URL like http://pushgateway:9091", a.redact(e.push))
		}
		a.secrets.RegisterURI(raw)
	}
	return e, nil
}

// export writes and pushes the metrics. Failures are logged, not returned: they must not
// turn a good backup into a failed one.
func (e exporter) export(ctx context.Context, a *app, m *runMetrics) {
	if e.file != "" {
		// WriteToTextfile writes a temporary file beside the target and renames it, so
		// node_exporter never reads half a file; the temporary name does not end in .prom.
		if err := prometheus.WriteToTextfile(e.file, m.reg); err != nil {
			a.log.Error("could not write the metrics file", "path", e.file, "error", a.redact(err.Error()))
		} else {
			a.log.Debug("metrics file written", "path", e.file)
		}
	}
	if e.push != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		// POST (Add), not PUT: metrics this run does not have — the last success after a
		// failure — stay in the Pushgateway from the run that had them.
		p := push.New(e.push, "mongostash").
			Grouping("operation", m.labels["operation"]).
			Grouping("database", m.labels["database"]).
			Gatherer(withoutLabels{m.reg, []string{"operation", "database"}}).
			Format(expfmt.NewFormat(expfmt.TypeTextPlain)).
			Client(&http.Client{Timeout: 30 * time.Second})
		if err := p.AddContext(ctx); err != nil {
			a.log.Error("could not push the metrics", "pushgateway", a.redact(e.push), "error", a.redact(err.Error()))
		} else {
			a.log.Debug("metrics pushed", "pushgateway", a.redact(e.push))
		}
	}
}

// withoutLabels drops labels that the Pushgateway's grouping key already carries: it
// refuses metrics that repeat them.
type withoutLabels struct {
	g    prometheus.Gatherer
	drop []string
}

func (w withoutLabels) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := w.g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range mfs {
		for _, metric := range mf.Metric {
			kept := metric.Label[:0]
			for _, l := range metric.Label {
				if !slices.Contains(w.drop, l.GetName()) {
					kept = append(kept, l)
				}
			}
			metric.Label = kept
		}
	}
	return mfs, nil
}
