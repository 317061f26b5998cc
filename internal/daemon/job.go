package daemon

import (
	"context"
	"time"
)

// Result is what a successful run reports for the metrics.
type Result struct {
	Bytes     int64 // backup: bytes stored; prune: bytes deleted; restore: bytes read
	Documents int64 // backup: documents dumped; restore: documents inserted
}

// Job is one operation as the scheduler and the metrics see it.
type Job struct {
	Name     string // backup, prune, restore: the operation label
	Database string // the database label: MONGO_DATABASE, or "" for all
	Run      func(context.Context) (Result, error)
	Build    BuildInfo // what mongostash_build_info says
}

// Once runs job once and exports its metrics. A run that succeeded stays a success when its
// metrics cannot be written: the staleness alert on mongostash_last_success_timestamp_seconds
// catches the gap.
func Once(ctx context.Context, job Job, exp *Exporter) error {
	m := NewRunMetrics(job.Name, job.Database, job.Build)
	started := time.Now()
	res, err := job.Run(ctx)
	m.Observe(time.Now(), time.Since(started), res, err)
	exp.Export(ctx, m.Registry, m.Labels)
	return err
}
