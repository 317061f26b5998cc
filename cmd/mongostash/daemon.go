package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
)

// daemon runs an operation on its schedule until its context ends (SIGTERM/SIGINT). Runs
// never overlap: a tick that comes while a run is going is skipped and logged. On shutdown
// the run in progress sees its context cancelled — a backup then aborts its upload, so no
// partial object remains — and the daemon waits for it before exiting 0.
type daemon struct {
	op      operation
	a       *app
	log     *slog.Logger
	sched   cron.Schedule
	started time.Time
	maxAge  time.Duration // of the last success, for /healthz
	exp     exporter
	metrics *runMetrics
	health  *health

	done    chan outcome // receives the run in progress when it ends
	running bool
	runs    int // runs started
}

// outcome is one finished run.
type outcome struct {
	n     int
	start time.Time
	end   time.Time
	res   runResult
	err   error
}

// newDaemon checks the schedule and the metrics destinations before anything runs.
func newDaemon(op operation, a *app) (*daemon, error) {
	sched, err := parseSchedule(op.schedule)
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(a, op.flags)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	maxAge := op.flags.HealthMaxAge
	if maxAge < 0 {
		return nil, usagef("--health-max-age must not be negative")
	}
	if maxAge == 0 {
		maxAge = 2 * longestGap(sched, now)
	}
	return &daemon{
		op: op, a: a, log: a.log.With("operation", op.name), sched: sched, started: now, maxAge: maxAge,
		exp: exp, metrics: newRunMetrics(op.name, op.database), health: &health{started: now, maxAge: maxAge},
		done: make(chan outcome, 1),
	}, nil
}

// run is the daemon's loop: start runs on time, record them as they end, stop with ctx.
// Only a configuration error, which no later run can fix, ends it with an error.
func (d *daemon) run(ctx context.Context) error {
	if d.op.flags.Listen != "" {
		stop, err := d.serve(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	next := d.sched.Next(d.started)
	d.log.Info("daemon started", "schedule", d.op.schedule, "next_run", next.Format(time.RFC3339), "health_max_age", d.maxAge.String())
	if d.op.flags.RunOnStart {
		d.start(ctx)
	}
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			d.shutdown(ctx)
			return nil
		case <-timer.C:
			if ctx.Err() != nil {
				continue // shutting down: the next pass through the loop stops
			}
			d.tick(ctx)
			// Never fire twice for one scheduled time, even if the clock stepped back.
			next = d.sched.Next(later(time.Now(), next))
			timer.Reset(time.Until(next))
		case o := <-d.done:
			if err := d.finish(ctx, o); err != nil {
				return err
			}
		}
	}
}

// serve starts the /metrics and /healthz listener; the returned function stops it.
func (d *daemon) serve(ctx context.Context) (func(), error) {
	return serveMetrics(ctx, d.log, d.op.flags.Listen, d.metrics.reg, d.health)
}

// serveMetrics serves the metrics of g (plus the Go and process collectors) on /metrics
// and h on /healthz at addr, for the long-running commands; the returned function stops it.
func serveMetrics(ctx context.Context, log *slog.Logger, addr string, g prometheus.Gatherer, h http.Handler) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	srv := newMetricsServer(g, h)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err.Error())
		}
	}()
	log.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}, nil
}

// tick starts a run at a scheduled time, unless one is still going.
func (d *daemon) tick(ctx context.Context) {
	if d.running {
		d.log.Warn("scheduled run skipped", "reason", "the previous run is still going", "run", d.runs)
		return
	}
	d.start(ctx)
}

func (d *daemon) start(ctx context.Context) {
	d.runs++
	d.running = true
	o := outcome{n: d.runs, start: time.Now()}
	d.log.Info("scheduled run started", "run", o.n)
	go func() {
		o.res, o.err = d.op.once(ctx, d.a)
		o.end = time.Now()
		d.done <- o
	}()
}

// finish records a run in the metrics, the health check and the log. It returns the run's
// error only when that is a configuration error, which stops the daemon.
func (d *daemon) finish(ctx context.Context, o outcome) error {
	d.running = false
	dur := o.end.Sub(o.start)
	d.metrics.observe(o.end, dur, o.res, o.err)
	d.health.record(o.end, o.err)
	d.exp.export(ctx, d.a, d.metrics)
	attrs := []any{"run", o.n, "duration", dur.Round(time.Millisecond).String()}
	switch {
	case o.err == nil:
		d.log.Info("scheduled run finished", append(attrs, "result", "success", "bytes", o.res.Bytes, "documents", o.res.Documents)...)
	case ctx.Err() != nil:
		d.log.Warn("scheduled run aborted by shutdown", append(attrs, "result", "aborted", "error", d.a.redact(o.err.Error()))...)
	default:
		d.log.Error("scheduled run failed", append(attrs, "result", "failure", "error", d.a.redact(o.err.Error()))...)
	}
	var ue usageError
	if errors.As(o.err, &ue) && ctx.Err() == nil {
		return o.err
	}
	return nil
}

// shutdown waits for the run in progress, whose context has ended with the daemon's.
func (d *daemon) shutdown(ctx context.Context) {
	if d.running {
		d.log.Info("shutting down: aborting the run in progress", "run", d.runs)
		_ = d.finish(ctx, <-d.done)
	}
	d.log.Info("daemon stopped", "runs", d.runs)
}

// newMetricsServer serves the run metrics (plus the Go and process collectors, which
// only a long-running process has a use for) and the health check.
func newMetricsServer(g prometheus.Gatherer, h http.Handler) *http.Server {
	rt := prometheus.NewRegistry()
	rt.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{g, rt}, promhttp.HandlerOpts{}))
	mux.Handle("/healthz", h)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}
