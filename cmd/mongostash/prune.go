package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/retention"
	"github.com/mongostash/mongostash/storage"
)

type pruneCmd struct {
	Store StoreFlags `embed:"" group:"Storage"`

	MaxAge       seconds `name:"max-age" env:"S3_BACKUP_MAX_AGE" default:"2592000" help:"Backups at least this old expire unless another rule keeps them (seconds, or a duration like 720h; 0 = off). Seed semantics."`
	KeepLast     int     `name:"keep-last" env:"PRUNE_KEEP_LAST" help:"Keep the N newest backups."`
	KeepHourly   int     `name:"keep-hourly" env:"PRUNE_KEEP_HOURLY" help:"Keep the newest backup of each of the last N hours that have one (UTC)."`
	KeepDaily    int     `name:"keep-daily" env:"PRUNE_KEEP_DAILY" help:"Keep the newest backup of each of the last N days that have one (UTC)."`
	KeepWeekly   int     `name:"keep-weekly" env:"PRUNE_KEEP_WEEKLY" help:"Keep the newest backup of each of the last N ISO weeks that have one."`
	KeepMonthly  int     `name:"keep-monthly" env:"PRUNE_KEEP_MONTHLY" help:"Keep the newest backup of each of the last N months that have one (UTC)."`
	KeepYearly   int     `name:"keep-yearly" env:"PRUNE_KEEP_YEARLY" help:"Keep the newest backup of each of the last N years that have one (UTC)."`
	KeepWithin   seconds `name:"keep-within" env:"PRUNE_KEEP_WITHIN" default:"0" help:"Keep every backup less than this older than the newest backup (not the clock)."`
	MinKeep      int     `name:"min-keep" env:"PRUNE_MIN_KEEP" default:"1" help:"Never leave fewer than this many complete backups; the newest complete backup is never deleted (minimum 1)."`
	MaxStaleness seconds `name:"max-staleness" env:"PRUNE_MAX_STALENESS" default:"-1" help:"When the newest complete backup is older than this, backups have stopped: delete nothing and exit 1 (default: the max age)."`
	DryRun       bool    `name:"dry-run" help:"Print the plan — every backup with keep/delete and its reasons — and delete nothing."`
	JSON         bool    `name:"json" help:"Print the plan as JSON."`
	AbortUploads bool    `name:"abort-stale-uploads" env:"PRUNE_ABORT_STALE_UPLOADS" help:"Also abort multipart uploads under the prefix older than 24h (left by killed uploads)."`

	Schedule        string      `name:"schedule" env:"PRUNE_SCHEDULE" placeholder:"CRON" group:"Schedule and metrics" help:"Run as a daemon and prune on this schedule: 5-field cron ('30 3 * * *', CRON_TZ=Europe/Berlin prefix for a zone) or @every 24h, @daily."`
	MetricsDatabase string      `name:"metrics-database" env:"MONGO_DATABASE" group:"Schedule and metrics" help:"The database label of the metrics (prune itself covers every backup under the prefix); empty = all."`
	Daemon          DaemonFlags `embed:"" group:"Schedule and metrics"`
}

// planEntry is one line of the prune plan. Complete and Legacy mean what they mean in
// `list --json`: a legacy (seed-era) backup has no manifest, so it is not complete, though
// retention counts it as restorable.
type planEntry struct {
	Key      string    `json:"key"`
	Time     time.Time `json:"time"`
	Complete bool      `json:"complete"`
	Legacy   bool      `json:"legacy"`
	Action   string    `json:"action"` // keep or delete
	Reasons  []string  `json:"reasons"`
}

func (c *pruneCmd) policy() (retention.Policy, error) {
	p := retention.Policy{
		MaxAge: c.MaxAge.d(), KeepLast: c.KeepLast, KeepHourly: c.KeepHourly, KeepDaily: c.KeepDaily,
		KeepWeekly: c.KeepWeekly, KeepMonthly: c.KeepMonthly, KeepYearly: c.KeepYearly,
		KeepWithin: c.KeepWithin.d(), MinKeep: c.MinKeep,
	}
	if p.MinKeep < 1 {
		return p, usagef("--min-keep must be at least 1: the newest complete backup is never deleted")
	}
	if err := p.Validate(); err != nil {
		return p, usageError{err}
	}
	return p, nil
}

func (c *pruneCmd) Run(ctx context.Context, a *app) error {
	return operation{name: "prune", database: c.MetricsDatabase, schedule: c.Schedule, flags: &c.Daemon, once: c.once}.run(ctx, a)
}

func (c *pruneCmd) once(ctx context.Context, a *app) (runResult, error) {
	policy, err := c.policy()
	if err != nil {
		return runResult{}, err
	}
	staleness := c.MaxStaleness.d()
	if staleness < 0 {
		staleness = policy.MaxAge
	}
	store, err := c.Store.open(ctx, a)
	if err != nil {
		return runResult{}, err
	}
	cat, err := catalog.ReadCatalog(ctx, store, c.Store.Prefix)
	if err != nil {
		return runResult{}, err
	}
	backups, ignored := cat.Backups, cat.Ignored
	for _, o := range ignored {
		a.log.Debug("not a backup, ignored", "key", o.Key)
	}
	byKey := map[string]catalog.Backup{}
	var candidates []retention.Backup
	for _, b := range backups {
		byKey[b.Key] = b
		candidates = append(candidates, retention.Backup{Key: b.Key, Time: b.Time, Complete: b.Restorable()})
	}
	now := time.Now()
	decisions := retention.Apply(candidates, policy, now)
	if err := c.printPlan(a, decisions, byKey); err != nil {
		return runResult{}, err
	}
	if stale, why := retention.Stale(candidates, staleness, now); stale && len(candidates) > 0 {
		return runResult{}, fmt.Errorf("prune: deleting nothing: %s — backups seem to have stopped; fix them first (or raise --max-staleness)", why)
	} else if stale {
		a.log.Warn("prune: no backups under the prefix", "store", describePrefix(store, c.Store.Prefix))
	}
	var objects, manifests []string
	var deleted int64 // bytes, for the metrics
	for _, d := range decisions {
		if d.Keep {
			continue
		}
		b := byKey[d.Backup.Key]
		objects = append(objects, b.Key)
		deleted += b.Size
		if b.HasManifest {
			manifests = append(manifests, b.ManifestKey)
		}
	}
	if c.DryRun {
		a.log.Info("dry run: nothing deleted", "would_delete", len(objects), "keep", len(decisions)-len(objects), "ignored_objects", len(ignored))
		return runResult{}, nil
	}
	// Objects first, manifests last: an interrupted prune leaves manifests without objects,
	// which the next run removes, never an object that looks complete but is half-deleted.
	if err := store.Delete(context.WithoutCancel(ctx), objects...); err != nil {
		return runResult{}, fmt.Errorf("prune: delete backups: %w", err)
	}
	if err := store.Delete(context.WithoutCancel(ctx), manifests...); err != nil {
		return runResult{}, fmt.Errorf("prune: delete manifests of deleted backups: %w", err)
	}
	var orphans []string
	for _, o := range cat.OrphanManifests {
		orphans = append(orphans, o.Key)
	}
	if len(orphans) > 0 {
		if err := store.Delete(context.WithoutCancel(ctx), orphans...); err != nil {
			return runResult{}, fmt.Errorf("prune: delete orphan manifests: %w", err)
		}
	}
	if c.AbortUploads {
		if err := abortStaleUploads(ctx, a, store, c.Store.Prefix); err != nil {
			return runResult{}, err
		}
	}
	a.log.Info("prune complete", "deleted", len(objects), "kept", len(decisions)-len(objects),
		"orphan_manifests_deleted", len(orphans), "ignored_objects", len(ignored), "policy", policy.String())
	return runResult{Bytes: deleted}, nil
}

func (c *pruneCmd) printPlan(a *app, decisions []retention.Decision, byKey map[string]catalog.Backup) error {
	entries := make([]planEntry, 0, len(decisions))
	for _, d := range decisions {
		action := "keep"
		if !d.Keep {
			action = "delete"
		}
		b := byKey[d.Backup.Key]
		entries = append(entries, planEntry{Key: d.Backup.Key, Time: d.Backup.Time.UTC(), Complete: b.Complete(), Legacy: b.Legacy(), Action: action, Reasons: d.Reasons})
	}
	if c.JSON {
		return writeJSON(a.stdout, entries)
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "ACTION\tKEY\tTIME\tREASONS")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Action, e.Key, e.Time.Format(time.RFC3339), strings.Join(e.Reasons, "; "))
	}
	return tw.Flush()
}

func abortStaleUploads(ctx context.Context, a *app, store storage.Store, prefix string) error {
	s, ok := store.(storage.StaleUploadAborter)
	if !ok {
		return errors.New("prune: --abort-stale-uploads: this store has no unfinished uploads to abort")
	}
	n, err := s.AbortStaleUploads(ctx, prefix, 24*time.Hour)
	if err != nil {
		return fmt.Errorf("prune: abort stale uploads: %w", err)
	}
	a.log.Info("aborted stale multipart uploads", "count", n)
	return nil
}
