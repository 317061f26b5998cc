package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// Options configure Run.
type Options struct {
	Schedule     cron.Schedule // from ParseSchedule
	Spec         string        // the schedule as given, for the log
	RunOnStart   bool          // also run once right away
	Listen       string        // serve /metrics and /healthz here ("" = not at all)
	HealthMaxAge time.Duration // /healthz fails when the last success is older (0 = twice the longest gap between runs)
	Exporter     *Exporter     // after each run (nil = nowhere)
	Log          *slog.Logger
	Redact       func(string) string // hides secrets in the errors it logs
	// Fatal says whether a run's error must stop the daemon: a configuration error, which
	// no later run can fix. Nil: none does.
	Fatal func(error) bool
}

// daemon runs a job on its schedule until its context ends (SIGTERM/SIGINT). Runs never
// overlap: a tick that comes while a run is going is skipped and logged. On shutdown the run
// in progress sees its context cancelled — a backup then aborts its upload, so no partial
// object remains — and the daemon waits for it before returning nil.
type daemon struct {
	job     Job
	o       Options
	log     *slog.Logger
	started time.Time
	metrics *RunMetrics
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
	res   Result
	err   error
}

// Run runs job on o.Schedule until ctx ends. Only an error o.Fatal names ends it with an
// error; every other failed run is logged, counted and followed by the next.
func Run(ctx context.Context, job Job, o Options) error {
	if o.HealthMaxAge < 0 {
		return fmt.Errorf("the health threshold must not be negative")
	}
	now := time.Now()
	if o.HealthMaxAge == 0 {
		o.HealthMaxAge = 2 * longestGap(o.Schedule, now)
	}
	d := &daemon{
		job: job, o: o, log: o.Log.With("operation", job.Name), started: now,
		metrics: NewRunMetrics(job.Name, job.Database, job.Build), health: &health{started: now, maxAge: o.HealthMaxAge},
		done: make(chan outcome, 1),
	}
	if o.Listen != "" {
		stop, err := Serve(ctx, d.log, o.Listen, d.metrics.Registry, d.health)
		if err != nil {
			return err
		}
		defer stop()
	}
	return d.loop(ctx)
}

// loop starts runs on time, records them as they end and stops with ctx.
func (d *daemon) loop(ctx context.Context) error {
	next := d.o.Schedule.Next(d.started)
	d.log.Info("daemon started", "schedule", d.o.Spec, "next_run", next.Format(time.RFC3339), "health_max_age", d.o.HealthMaxAge.String())
	if d.o.RunOnStart {
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
			next = d.o.Schedule.Next(later(time.Now(), next))
			timer.Reset(time.Until(next))
		case o := <-d.done:
			if err := d.finish(ctx, o); err != nil {
				return err
			}
		}
	}
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
		o.res, o.err = d.job.Run(ctx)
		o.end = time.Now()
		d.done <- o
	}()
}

// finish records a run in the metrics, the health check and the log. It returns the run's
// error only when that is fatal, which stops the daemon.
func (d *daemon) finish(ctx context.Context, o outcome) error {
	d.running = false
	dur := o.end.Sub(o.start)
	d.metrics.Observe(o.end, dur, o.res, o.err)
	d.health.record(o.end, o.err)
	d.o.Exporter.Export(ctx, d.metrics.Registry, d.metrics.Labels)
	attrs := []any{"run", o.n, "duration_seconds", Seconds(dur)}
	switch {
	case o.err == nil:
		d.log.Info("scheduled run finished", append(attrs, "result", "success", "bytes", o.res.Bytes, "documents", o.res.Documents)...)
	case ctx.Err() != nil:
		d.log.Warn("scheduled run aborted by shutdown", append(attrs, "result", "aborted", "error", d.o.Redact(o.err.Error()))...)
	default:
		d.log.Error("scheduled run failed", append(attrs, "result", "failure", "error", d.o.Redact(o.err.Error()))...)
	}
	if o.err != nil && d.o.Fatal != nil && d.o.Fatal(o.err) && ctx.Err() == nil {
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
