package main

import (
	"context"
	"time"
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
	once     func(context.Context, *app) (runResult, error)
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
		return op.runOnce(ctx, a)
	}
	d, err := newDaemon(op, a)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

func (op operation) runOnce(ctx context.Context, a *app) error {
	exp, err := newExporter(a, op.flags)
	if err != nil {
		return err
	}
	m := newRunMetrics(op.name, op.database)
	started := time.Now()
	res, err := op.once(ctx, a)
	m.observe(time.Now(), time.Since(started), res, err)
	// A run that succeeded stays a success when its metrics cannot be written: the
	// staleness alert on mongostash_last_success_timestamp_seconds catches the gap.
	exp.export(ctx, a, m)
	return err
}
