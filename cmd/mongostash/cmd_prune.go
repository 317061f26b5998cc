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

	MaxAge        seconds   `name:"max-age" env:"S3_BACKUP_MAX_AGE" default:"720h" range:"1s..87600h" zero:"off" help:"Backups at least this old expire unless another rule keeps them: seconds (the seed's 2592000) or a duration (720h = 30 days, the default)."`
	KeepLast      int       `name:"keep-last" env:"PRUNE_KEEP_LAST" default:"0" range:"1..100000" zero:"off" help:"Keep the N newest backups."`
	KeepHourly    int       `name:"keep-hourly" env:"PRUNE_KEEP_HOURLY" default:"0" range:"1..100000" zero:"off" help:"Keep the newest backup of each of the last N hours that have one (UTC)."`
	KeepDaily     int       `name:"keep-daily" env:"PRUNE_KEEP_DAILY" default:"0" range:"1..100000" zero:"off" help:"Keep the newest backup of each of the last N days that have one (UTC)."`
	KeepWeekly    int       `name:"keep-weekly" env:"PRUNE_KEEP_WEEKLY" default:"0" range:"1..100000" zero:"off" help:"Keep the newest backup of each of the last N ISO weeks that have one."`
	KeepMonthly   int       `name:"keep-monthly" env:"PRUNE_KEEP_MONTHLY" default:"0" range:"1..100000" zero:"off" help:"Keep the newest backup of each of the last N months that have one (UTC)."`
	KeepYearly    int       `name:"keep-yearly" env:"PRUNE_KEEP_YEARLY" default:"0" range:"1..100000" zero:"off" help:"Keep the newest backup of each of the last N years that have one (UTC)."`
	KeepWithin    seconds   `name:"keep-within" env:"PRUNE_KEEP_WITHIN" default:"0" range:"1s..87600h" zero:"off" help:"Keep every backup less than this older than the newest backup (not the clock): seconds or a duration (48h)."`
	MinKeep       int       `name:"min-keep" env:"PRUNE_MIN_KEEP" default:"1" range:"1..100000" help:"Never leave fewer than this many complete backups; the newest complete backup is never deleted."`
	MaxStaleness  staleness `name:"max-staleness" env:"PRUNE_MAX_STALENESS" default:"max-age" help:"When the newest complete backup is older than this, backups have stopped: delete nothing and exit 1. max-age (the default): the value of --max-age; 0 = never refuse; else seconds or a duration."`
	DryRun        bool      `name:"dry-run" env:"PRUNE_DRY_RUN" help:"Print the plan — every backup with keep/delete and its reasons — and delete nothing."`
	JSON          bool      `name:"json" env:"PRUNE_JSON" help:"Print the plan as JSON."`
	AbortUploads  bool      `name:"abort-stale-uploads" env:"PRUNE_ABORT_STALE_UPLOADS" help:"Also remove unfinished uploads under the prefix older than --stale-upload-age, left by killed uploads (S3 multipart uploads, Azure uncommitted blocks, temporary files of a directory; GCS leaves none)."`
	UploadAge     seconds   `name:"stale-upload-age" env:"PRUNE_STALE_UPLOAD_AGE" default:"24h" range:"1m..87600h" help:"With --abort-stale-uploads: abort the multipart uploads begun at least this long ago (seconds or a duration; keep it above the longest backup upload: a younger upload may be a backup still running)."`
	PurgeVersions bool      `name:"purge-versions" env:"PRUNE_PURGE_VERSIONS" help:"In a versioned bucket (as Object Lock requires) a delete only adds a delete marker: also delete for good the noncurrent versions of backups and manifests whose retention has expired, and the delete markers left over them."`
	Grace         seconds   `name:"incomplete-grace" env:"PRUNE_INCOMPLETE_GRACE" default:"24h" range:"1m..87600h" help:"Never delete a backup object without a manifest stored less than this ago: a backup may be between its upload and its manifest (seconds or a duration)."`

	Schedule        string      `name:"schedule" env:"PRUNE_SCHEDULE" placeholder:"CRON" group:"Schedule and metrics" help:"Run as a daemon and prune on this schedule: 5-field cron ('30 3 * * *', CRON_TZ=Europe/Berlin prefix for a zone) or @every 24h, @daily."`
	MetricsDatabase string      `name:"metrics-database" env:"MONGO_DATABASE" group:"Schedule and metrics" help:"The database label of the metrics (prune itself covers every backup under the prefix); empty = all."`
	Daemon          DaemonFlags `embed:"" group:"Schedule and metrics"`
}

// Help is the long help of the prune command: its safety rules, and examples.
func (pruneCmd) Help() string {
	return `A backup is kept when any rule keeps it. Whatever the rules, the newest complete backup
and at least --min-keep complete ones stay, and nothing is deleted (exit 1) when the newest
complete backup is older than --max-staleness: backups have stopped.

Examples:
  mongostash prune --dry-run                             # the plan: every backup, keep or delete, and why
  mongostash prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --max-age 0
  S3_BACKUP_MAX_AGE=1209600 mongostash prune             # the seed's rule: delete what is 14 days old
  mongostash prune --abort-stale-uploads --purge-versions
  mongostash prune --schedule @daily --run-on-start      # a daemon`
}

func (c *pruneCmd) Run(ctx context.Context, a *app) error {
	return operation{name: "prune", database: c.MetricsDatabase, schedule: c.Schedule, flags: &c.Daemon, once: c.once}.run(ctx, a)
}

func (c *pruneCmd) once(ctx context.Context, a *app) (daemon.Result, error) {
	p, err := c.plan(ctx, a)
	if err != nil {
		return daemon.Result{}, err
	}
	stale, why := retention.Stale(p.candidates(), p.staleness, p.now)
	guard := ""
	if stale && len(p.decisions) > 0 {
		guard = "the staleness guard"
	}
	if err := c.printPlan(a, p.decisions, p.byKey, p.oplog.entries(), guard); err != nil {
		return daemon.Result{}, err
	}
	if stale && len(p.decisions) > 0 {
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
	if p.staleness = time.Duration(c.MaxStaleness); p.staleness < 0 { // max-age
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
