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

// planEntry is one line of the prune plan. Complete and Legacy mean what they mean in
// `list --json`: a legacy (seed-era) backup has no manifest, so it is not complete, though
// retention counts it as restorable.
type planEntry struct {
	// Kind is empty for a backup, "oplog-chunk" or "gap-marker" for the archived oplog
	// (point-in-time recovery), whose lines follow the backups'.
	Kind     string    `json:"kind,omitempty"`
	Key      string    `json:"key"`
	Time     time.Time `json:"time"`
	Complete bool      `json:"complete"`
	Legacy   bool      `json:"legacy"`
	Action   string    `json:"action"` // keep or delete
	Reasons  []string  `json:"reasons"`
	// LockedUntil is when the store's lock on a backup the policy would delete expires.
	LockedUntil *time.Time `json:"locked_until,omitempty"`
}

func (c *pruneCmd) policy() (retention.Policy, error) {
	p := retention.Policy{
		MaxAge: c.MaxAge.d(), KeepLast: c.KeepLast, KeepHourly: c.KeepHourly, KeepDaily: c.KeepDaily,
		KeepWeekly: c.KeepWeekly, KeepMonthly: c.KeepMonthly, KeepYearly: c.KeepYearly,
		KeepWithin: c.KeepWithin.d(), MinKeep: c.MinKeep, Grace: c.Grace.d(),
	}
	if p.MinKeep < 1 {
		return p, usagef("--min-keep must be at least 1: the newest complete backup is never deleted")
	}
	if p.Grace < time.Minute {
		return p, usagef("--incomplete-grace must be at least 1m: a shorter one could delete a backup between its upload and its manifest")
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
	for _, o := range cat.Ignored {
		a.log.Debug("not a backup, ignored", "key", o.Key)
	}
	now := time.Now()
	decisions, err := decideWithLocks(ctx, store, cat.Backups, policy, now)
	if err != nil {
		return runResult{}, fmt.Errorf("prune: %w", err)
	}
	byKey := map[string]catalog.Backup{}
	for _, b := range cat.Backups {
		byKey[b.Key] = b
	}
	op, err := planOplogPrune(ctx, store, c.Store.Prefix, decisions, byKey, policy.Grace, now)
	if err != nil {
		return runResult{}, fmt.Errorf("prune: %w", err)
	}
	if err := c.printPlan(a, decisions, byKey, op.entries()); err != nil {
		return runResult{}, err
	}
	candidates := make([]retention.Backup, len(decisions))
	for i, d := range decisions {
		candidates[i] = d.Backup
	}
	if stale, why := retention.Stale(candidates, staleness, now); stale && len(candidates) > 0 {
		return runResult{}, fmt.Errorf("prune: deleting nothing: %s; fix the backups first (or raise --max-staleness)", why)
	} else if stale {
		a.log.Warn("prune: no backups under the prefix", "store", describePrefix(store, c.Store.Prefix))
	}
	if c.DryRun {
		chunks, gaps := op.doomed()
		a.log.Info("dry run: nothing deleted", "would_delete", countDeletes(decisions), "keep", len(decisions)-countDeletes(decisions),
			"would_delete_oplog_chunks", len(chunks), "would_delete_gap_markers", len(gaps), "ignored_objects", len(cat.Ignored))
		if c.PurgeVersions {
			return runResult{}, purgeVersions(ctx, a, store, c.Store.Prefix, now, true)
		}
		return runResult{}, nil
	}
	res, summary, err := c.deleteDecided(ctx, a, store, cat, byKey, decisions, now)
	if err == nil && summary != nil {
		// Only once the backups' deletes went as decided: the chunks kept are those the
		// backups left standing need.
		var more []any
		more, err = op.deleteDecided(ctx, a, store, now)
		summary = append(summary, more...)
	}
	if summary != nil { // the deletes ran: say what they did, also before an error
		summary = append(summary, "kept", len(decisions)-countDeletes(decisions), "ignored_objects", len(cat.Ignored), "policy", policy.String())
		if err != nil {
			a.log.Warn("prune incomplete", summary...)
		} else {
			a.log.Info("prune complete", summary...)
		}
	}
	return res, err
}

// deleteDecided deletes what the decisions say and what prune cleans up besides. Objects
// go first, then the manifests of the objects that went, so an interrupted or refused
// prune never leaves an object that looks complete but is half-deleted. A lock the store
// enforces is reported and counted; any other failure fails the run, after every other
// delete was tried.
func (c *pruneCmd) deleteDecided(ctx context.Context, a *app, store storage.Store, cat *catalog.Catalog, byKey map[string]catalog.Backup, decisions []retention.Decision, now time.Time) (runResult, []any, error) {
	// Deletes run to the end once started: a half-done round is what the order above
	// protects against, not a reason to stop midway.
	ctx = context.WithoutCancel(ctx)
	var objects []string
	for _, d := range decisions {
		if !d.Keep {
			objects = append(objects, d.Backup.Key)
		}
	}
	var failures []error
	out, err := deleteReporting(ctx, a, store, "backup", objects)
	if err != nil {
		return runResult{}, nil, fmt.Errorf("prune: delete backups: %w", err)
	}
	locked := len(out.locked)
	failures = append(failures, out.failed)
	var manifests []string
	var deleted int
	var bytes int64 // deleted, for the metrics
	for _, k := range objects {
		if b := byKey[k]; !out.refused[k] {
			deleted++
			bytes += b.Size
			if b.HasManifest {
				manifests = append(manifests, b.ManifestKey)
			}
		}
	}
	if out, err = deleteReporting(ctx, a, store, "manifest of a deleted backup", manifests); err != nil {
		return runResult{}, nil, fmt.Errorf("prune: delete manifests of deleted backups: %w", err)
	}
	locked += len(out.locked)
	failures = append(failures, out.failed)
	orphans, nLockedOrphans, err := lockedOrphans(ctx, a, store, cat.OrphanManifests, now)
	if err != nil {
		return runResult{}, nil, fmt.Errorf("prune: %w", err)
	}
	if out, err = deleteReporting(ctx, a, store, "orphan manifest", orphans); err != nil {
		return runResult{}, nil, fmt.Errorf("prune: delete orphan manifests: %w", err)
	}
	locked += len(out.locked)
	failures = append(failures, out.failed)
	orphansDeleted := len(orphans) - len(out.refused)
	if c.PurgeVersions {
		failures = append(failures, purgeVersions(ctx, a, store, c.Store.Prefix, now, false))
	}
	if c.AbortUploads {
		failures = append(failures, abortStaleUploads(ctx, a, store, c.Store.Prefix))
	}
	summary := []any{"deleted", deleted, "locked_refused", locked, "orphan_manifests_deleted", orphansDeleted, "orphan_manifests_locked", nLockedOrphans}
	if err := errors.Join(failures...); err != nil {
		return runResult{}, summary, fmt.Errorf("prune: %d backups deleted, but not everything: %w", deleted, err)
	}
	return runResult{Bytes: bytes}, summary, nil
}

func countDeletes(decisions []retention.Decision) int {
	n := 0
	for _, d := range decisions {
		if !d.Keep {
			n++
		}
	}
	return n
}

func (c *pruneCmd) printPlan(a *app, decisions []retention.Decision, byKey map[string]catalog.Backup, oplogEntries []planEntry) error {
	entries := make([]planEntry, 0, len(decisions))
	for _, d := range decisions {
		b := byKey[d.Backup.Key]
		e := planEntry{Key: d.Backup.Key, Time: d.Backup.Time.UTC(), Complete: b.Complete(), Legacy: b.Legacy(), Action: action(d.Keep), Reasons: d.Reasons}
		if until := d.Backup.LockedUntil; !until.IsZero() {
			until = until.UTC()
			e.LockedUntil = &until
		}
		entries = append(entries, e)
	}
	entries = append(entries, oplogEntries...)
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
