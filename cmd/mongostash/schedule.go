package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
	// The scratch image has no zoneinfo: embed it, so that CRON_TZ=Europe/Berlin works.
	_ "time/tzdata"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
)

// DaemonFlags turn backup and prune into daemons (with --schedule, which each command
// defines with its own environment variable) and export their metrics.
type DaemonFlags struct {
	RunOnStart   bool          `name:"run-on-start" env:"RUN_ON_START" help:"With --schedule: also run once right away, not only at the first scheduled time."`
	Listen       string        `name:"listen" env:"METRICS_LISTEN" placeholder:"ADDR" help:"With --schedule: serve /metrics (Prometheus) and /healthz on this address (for example :9090)."`
	HealthMaxAge time.Duration `name:"health-max-age" env:"HEALTH_MAX_AGE" default:"0s" help:"With --listen: /healthz fails when the last success is older than this (0 = twice the longest gap between scheduled runs)."`
	MetricsFile  string        `name:"metrics-file" env:"METRICS_FILE" type:"path" placeholder:"PATH" help:"After each run, write the metrics to this Prometheus textfile (for node_exporter's textfile collector; replaced atomically)."`
	Pushgateway  string        `name:"pushgateway" env:"PUSHGATEWAY_URL" placeholder:"URL" help:"After each run, push the metrics to this Prometheus Pushgateway (job mongostash, grouped by operation and database)."`
}

// runResult is what a successful run reports for the metrics.
type runResult struct {
	Bytes     int64 // backup: bytes stored; prune: bytes deleted; restore: bytes read
	Documents int64 // backup: documents dumped; restore: documents inserted
}

// operation is one subcommand as the scheduler and the metrics see it.
type operation struct {
	name     string // backup, prune, restore: the operation label
	database string // the database label: MONGO_DATABASE, or "" for all
	schedule string // cron spec; empty runs once
	flags    *DaemonFlags
	once     func(*app) (runResult, error)
}

// run runs the operation once, or on its schedule until SIGTERM/SIGINT.
func (op operation) run(a *app) error {
	if op.schedule == "" {
		if op.flags.Listen != "" {
			return usagef("--listen needs --schedule: a one-shot %s exports its metrics with --metrics-file or --pushgateway", op.name)
		}
		if op.flags.RunOnStart {
			return usagef("--run-on-start needs --schedule")
		}
		return op.runOnce(a)
	}
	return op.daemon(a)
}

func (op operation) runOnce(a *app) error {
	exp, err := newExporter(op.flags)
	if err != nil {
		return err
	}
	m := newRunMetrics(op.name, op.database)
	started := time.Now()
	res, err := op.once(a)
	m.observe(time.Now(), time.Since(started), res, err)
	// A run that succeeded stays a success when its metrics cannot be written: the
	// staleness alert on mongostash_last_success_timestamp_seconds catches the gap.
	exp.export(a, m)
	return err
}

// parseSchedule accepts standard 5-field cron specs (with an optional CRON_TZ=Zone prefix)
// and descriptors such as @daily and @every 6h.
func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, usagef("--schedule %q: %v (want 5-field cron like '0 */6 * * *', or '@every 6h', '@daily')", spec, err)
	}
	if s.Next(time.Now()).IsZero() {
		return nil, usagef("--schedule %q never fires", spec)
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

func (h *health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	ok, msg := h.check(time.Now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, msg)
}

// outcome is one finished run.
type outcome struct {
	n     int
	start time.Time
	end   time.Time
	res   runResult
	err   error
}

// daemon runs the operation on its schedule until the context ends (SIGTERM/SIGINT). Runs
// never overlap: a tick that comes while a run is going is skipped and logged. On shutdown
// the run in progress sees its context cancelled — a backup then aborts its upload, so no
// partial object remains — and the daemon waits for it before exiting 0.
func (op operation) daemon(a *app) error {
	sched, err := parseSchedule(op.schedule)
	if err != nil {
		return err
	}
	exp, err := newExporter(op.flags)
	if err != nil {
		return err
	}
	now := time.Now()
	maxAge := op.flags.HealthMaxAge
	if maxAge < 0 {
		return usagef("--health-max-age must not be negative")
	}
	if maxAge == 0 {
		maxAge = 2 * longestGap(sched, now)
	}
	log := a.log.With("operation", op.name)
	m := newRunMetrics(op.name, op.database)
	h := &health{started: now, maxAge: maxAge}

	if op.flags.Listen != "" {
		ln, err := net.Listen("tcp", op.flags.Listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", op.flags.Listen, err)
		}
		srv := newMetricsServer(m, h)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "error", err.Error())
			}
		}()
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}()
		log.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	}

	var (
		done    = make(chan outcome, 1)
		running bool
		runs    int
	)
	start := func() {
		runs++
		running = true
		o := outcome{n: runs, start: time.Now()}
		log.Info("scheduled run started", "run", o.n)
		go func() {
			o.res, o.err = op.once(a)
			o.end = time.Now()
			done <- o
		}()
	}
	// finish records a run; only a configuration error, which no later run can fix,
	// stops the daemon.
	finish := func(o outcome) error {
		running = false
		dur := o.end.Sub(o.start)
		m.observe(o.end, dur, o.res, o.err)
		h.record(o.end, o.err)
		exp.export(a, m)
		attrs := []any{"run", o.n, "duration", dur.Round(time.Millisecond).String()}
		switch {
		case o.err == nil:
			log.Info("scheduled run finished", append(attrs, "result", "success", "bytes", o.res.Bytes, "documents", o.res.Documents)...)
		case a.ctx.Err() != nil:
			log.Warn("scheduled run aborted by shutdown", append(attrs, "result", "aborted", "error", redactSecrets(o.err.Error()))...)
		default:
			log.Error("scheduled run failed", append(attrs, "result", "failure", "error", redactSecrets(o.err.Error()))...)
		}
		var ue usageError
		if errors.As(o.err, &ue) && a.ctx.Err() == nil {
			return o.err
		}
		return nil
	}

	next := sched.Next(now)
	log.Info("daemon started", "schedule", op.schedule, "next_run", next.Format(time.RFC3339), "health_max_age", maxAge.String())
	if op.flags.RunOnStart {
		start()
	}
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-a.ctx.Done():
			if running {
				log.Info("shutting down: aborting the run in progress", "run", runs)
				_ = finish(<-done)
			}
			log.Info("daemon stopped", "runs", runs)
			return nil
		case <-timer.C:
			if a.ctx.Err() != nil {
				continue // shutting down: the next pass through the loop stops
			}
			if running {
				log.Warn("scheduled run skipped", "reason", "the previous run is still going", "run", runs)
			} else {
				start()
			}
			// Never fire twice for one scheduled time, even if the clock stepped back.
			next = sched.Next(later(time.Now(), next))
			timer.Reset(time.Until(next))
		case o := <-done:
			if err := finish(o); err != nil {
				return err
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// newMetricsServer serves the run metrics (plus the Go and process collectors, which
// only a long-running process has a use for) and the health check.
func newMetricsServer(m *runMetrics, h *health) *http.Server {
	rt := prometheus.NewRegistry()
	rt.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{m.reg, rt}, promhttp.HandlerOpts{}))
	mux.Handle("/healthz", h)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}
