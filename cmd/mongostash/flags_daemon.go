package main

import (
	"context"
	"errors"
	"time"

	"github.com/mongostash/mongostash/internal/daemon"
)

// DaemonFlags turn backup and prune into daemons (with --schedule, which each command
// defines with its own environment variable) and export their metrics.
type DaemonFlags struct {
	RunOnStart   bool          `name:"run-on-start" env:"RUN_ON_START" help:"With --schedule: also run once right away, not only at the first scheduled time."`
	Listen       string        `name:"listen" env:"METRICS_LISTEN" placeholder:"ADDR" help:"With --schedule: serve /metrics (Prometheus) and /healthz on this address (for example :9090)."`
	HealthMaxAge time.Duration `name:"health-max-age" env:"HEALTH_MAX_AGE" default:"0s" range:"1s..8760h" zero:"twice the longest gap between scheduled runs" help:"With --listen: /healthz fails when the last success is older than this."`
	MetricsFile  string        `name:"metrics-file" env:"METRICS_FILE" type:"path" placeholder:"PATH" help:"After each run, write the metrics to this Prometheus textfile (for node_exporter's textfile collector; replaced atomically)."`
	Pushgateway  string        `name:"pushgateway" env:"PUSHGATEWAY_URL" placeholder:"URL" help:"After each run, push the metrics to this Prometheus Pushgateway (job mongostash, grouped by operation and database)."`
}

// operation is one subcommand as the scheduler and the metrics see it.
type operation struct {
	name     string // backup, prune, restore: the operation label
	database string // the database label: MONGO_DATABASE, or "" for all
	schedule string // cron spec; empty runs once
	flags    *DaemonFlags
	once     func(context.Context, *app) (daemon.Result, error)
}

// run runs the operation once, or on its schedule until ctx ends (SIGTERM/SIGINT).
func (op operation) run(ctx context.Context, a *app) error {
	if op.schedule == "" {
		if op.flags.Listen != "" {
			return usagef("--listen needs --schedule: a one-shot %s exports its metrics with --metrics-file or --pushgateway", op.name)
		}
		if op.flags.RunOnStart {
			return usagef("--run-on-start needs --schedule")
		}
	}
	exp, err := newExporter(a, op.flags.MetricsFile, op.flags.Pushgateway)
	if err != nil {
		return err
	}
	job := daemon.Job{Name: op.name, Database: op.database, Build: buildInfo(), Run: func(ctx context.Context) (daemon.Result, error) { return op.once(ctx, a) }}
	if op.schedule == "" {
		return daemon.Once(ctx, job, exp)
	}
	sched, err := daemon.ParseSchedule(op.schedule)
	if err != nil {
		return usagef("--schedule: %v", err)
	}
	return daemon.Run(ctx, job, daemon.Options{
		Schedule: sched, Spec: op.schedule, RunOnStart: op.flags.RunOnStart,
		Listen: op.flags.Listen, HealthMaxAge: op.flags.HealthMaxAge, Exporter: exp,
		Log: a.log, Redact: a.redact, Fatal: isUsageError,
	})
}

// newExporter checks the metrics destinations (either may be empty) and marks the
// Pushgateway's URL secret, since it may hold a password.
func newExporter(a *app, file, push string) (*daemon.Exporter, error) {
	exp, err := daemon.NewExporter(file, push, a.log, a.redact)
	if err != nil {
		return nil, usagef("--metrics-file / --pushgateway: %v", err)
	}
	a.secrets.RegisterURI(exp.PushURL())
	return exp, nil
}

// isUsageError says whether err is a configuration error, which no later run can fix.
func isUsageError(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}
