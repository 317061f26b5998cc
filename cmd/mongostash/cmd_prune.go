package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/retention"
	"github.com/mongostash/mongostash/storage"
)

type pruneCmd struct {
	Store StoreFlags `embed:"" group:"Storage"`

	MaxAge        seconds `name:"max-age" env:"S3_BACKUP_MAX_AGE" default:"2592000" help:"Backups at least this old expire unless another rule keeps them (seconds, or a duration like 720h; 0 = off). Seed semantics."`
	KeepLast      int     `name:"keep-last" env:"PRUNE_KEEP_LAST" help:"Keep the N newest backups."`
	KeepHourly    int     `name:"keep-hourly" env:"PRUNE_KEEP_HOURLY" help:"Keep the newest backup of each of the last N hours that have one (UTC)."`
	KeepDaily     int     `name:"keep-daily" env:"PRUNE_KEEP_DAILY" help:"Keep the newest backup of each of the last N days that have one (UTC)."`
	KeepWeekly    int     `name:"keep-weekly" env:"PRUNE_KEEP_WEEKLY" help:"Keep the newest backup of each of the last N ISO weeks that have one."`
	KeepMonthly   int     `name:"keep-monthly" env:"PRUNE_KEEP_MONTHLY" help:"Keep the newest backup of each of the last N months that have one (UTC)."`
	KeepYearly    int     `name:"keep-yearly" env:"PRUNE_KEEP_YEARLY" help:"Keep the newest backup of each of the last N years that have one (UTC)."`
	KeepWithin    seconds `name:"keep-within" env:"PRUNE_KEEP_WITHIN" default:"0" help:"Keep every backup less than this older than the newest backup (not the clock)."`
	MinKeep       int     `name:"min-keep" env:"PRUNE_MIN_KEEP" default:"1" help:"Never leave fewer than this many complete backups; the newest complete backup is never deleted (minimum 1)."`
	MaxStaleness  seconds `name:"max-staleness" env:"PRUNE_MAX_STALENESS" default:"-1" help:"When the newest complete backup is older than this, backups have stopped: delete nothing and exit 1 (default: the max age)."`
	DryRun        bool    `name:"dry-run" help:"Print the plan — every backup with keep/delete and its reasons — and delete nothing."`
	JSON          bool    `name:"json" help:"Print the plan as JSON."`
	AbortUploads  bool    `name:"abort-stale-uploads" env:"PRUNE_ABORT_STALE_UPLOADS" help:"Also abort multipart uploads under the prefix older than 24h (left by killed uploads)."`
	PurgeVersions bool    `name:"purge-versions" env:"PRUNE_PURGE_VERSIONS" help:"In a versioned bucket (as Object Lock requires) a delete only adds a delete marker: also delete for good the noncurrent versions of backups and manifests whose retention has expired, and the delete markers left over them."`
	Grace         seconds `name:"incomplete-grace" env:"PRUNE_INCOMPLETE_GRACE" default:"86400" help:"Never delete a backup object without a manifest stored less than this ago: a backup may be between its upload and its manifest (seconds or a duration; at least 1m)."`

	Schedule        string      `name:"schedule" env:"PRUNE_SCHEDULE" placeholder:"CRON" group:"Schedule and metrics" help:"Run as a daemon and prune on this schedule: 5-field cron ('30 3 * * *', CRON_TZ=Europe/Berlin prefix for a zone) or @every 24h, @daily."`
	MetricsDatabase string      `name:"metrics-database" env:"MONGO_DATABASE" group:"Schedule and metrics" help:"The database label of the metrics (prune itself covers every backup under the prefix); empty = all."`
	Daemon          DaemonFlags `embed:"" group:"Schedule and metrics"`
}

func (c *pruneCmd) Run(ctx context.Context, a *app) error {
	return operation{name: "prune", database: c.MetricsDatabase, schedule: c.Schedule, flags: &c.Daemon, once: c.once}.run(ctx, a)
}

func (c *pruneCmd) once(ctx context.Context, a *app) (daemon.Result, error) {
	p, err := c.plan(ctx, a)
	if err != nil {
		return daemon.Result{}, err
	}
	if err := c.printPlan(a, p.decisions, p.byKey, p.oplog.entries()); err != nil {
		return daemon.Result{}, err
	}
	if stale, why := retention.Stale(p.candidates(), p.staleness, p.now); stale && len(p.decisions) > 0 {
		return daemon.Result{}, fmt.Errorf("prune: deleting nothing: %s; fix the backups first (or raise --max-staleness)", why)
	} else if stale {
		a.log.Warn("prune: no backups under the prefix", "store", describePrefix(p.store, c.Store.Prefix))
	}
	if c.DryRun {
		chunks, gaps := p.oplog.doomed()
		deletes := countDeletes(p.decisions)
		a.log.Info("dry run: nothing deleted", "would_delete", deletes, "keep", len(p.decisions)-deletes,
			"would_delete_oplog_chunks", len(chunks), "would_delete_gap_markers", len(gaps), "ignored_objects", len(p.cat.Ignored))
		if c.PurgeVersions {
			return daemon.Result{}, purgeVersions(ctx, a, p.store, c.Store.Prefix, p.now, true)
		}
		return daemon.Result{}, nil
	}
	res, summary, err := c.deleteDecided(ctx, a, p.store, p.cat, p.byKey, p.decisions, p.now)
	if err == nil && summary != nil {
		// Only once the backups' deletes went as decided: the chunks kept are those the
		// backups left standing need.
		var more []any
		more, err = p.oplog.deleteDecided(ctx, a, p.store, p.now)
		summary = append(summary, more...)
	}
	if summary != nil { // the deletes ran: say what they did, also before an error
		summary = append(summary, "kept", len(p.decisions)-countDeletes(p.decisions), "ignored_objects", len(p.cat.Ignored), "policy", p.policy.String())
		if err != nil {
			a.log.Warn("prune incomplete", summary...)
		} else {
			a.log.Info("prune complete", summary...)
		}
	}
	return res, err
}

// prunePlan is what prune decided before deleting anything.
type prunePlan struct {
	policy    retention.Policy
	staleness time.Duration
	now       time.Time
	store     storage.Store
	cat       *catalog.Catalog
	byKey     map[string]catalog.Backup
	decisions []retention.Decision
	oplog     *oplogPrune
}

// plan reads the catalog and the locks and decides what to keep, backups and oplog chunks.
func (c *pruneCmd) plan(ctx context.Context, a *app) (*prunePlan, error) {
	p := &prunePlan{now: time.Now()}
	var err error
	if p.policy, err = c.policy(); err != nil {
		return nil, err
	}
	if p.staleness = c.MaxStaleness.d(); p.staleness < 0 {
		p.staleness = p.policy.MaxAge
	}
	if p.store, err = c.Store.open(ctx, a); err != nil {
		return nil, err
	}
	if p.cat, err = catalog.ReadCatalog(ctx, p.store, c.Store.Prefix); err != nil {
		return nil, err
	}
	for _, o := range p.cat.Ignored {
		a.log.Debug("not a backup, ignored", "key", o.Key)
	}
	if p.decisions, err = decideWithLocks(ctx, p.store, p.cat.Backups, p.policy, p.now); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	p.byKey = map[string]catalog.Backup{}
	for _, b := range p.cat.Backups {
		p.byKey[b.Key] = b
	}
	if p.oplog, err = planOplogPrune(ctx, p.store, c.Store.Prefix, p.decisions, p.byKey, p.policy.Grace, p.now); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return p, nil
}

// candidates are the backups the policy judged, as the staleness guard takes them.
func (p *prunePlan) candidates() []retention.Backup {
	out := make([]retention.Backup, len(p.decisions))
	for i, d := range p.decisions {
		out[i] = d.Backup
	}
	return out
}
