package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/retention"
	"github.com/mongostash/mongostash/storage"
)

// deleteDecided deletes what the decisions say and what prune cleans up besides. Objects
// go first, then the manifests of the objects that went, so an interrupted or refused
// prune never leaves an object that looks complete but is half-deleted. A lock the store
// enforces is reported and counted; any other failure fails the run, after every other
// delete was tried.
func (c *pruneCmd) deleteDecided(ctx context.Context, a *app, store storage.Store, cat *catalog.Catalog, byKey map[string]catalog.Backup, decisions []retention.Decision, now time.Time) (daemon.Result, []any, error) {
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
		return daemon.Result{}, nil, fmt.Errorf("prune: delete backups: %w", err)
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
		return daemon.Result{}, nil, fmt.Errorf("prune: delete manifests of deleted backups: %w", err)
	}
	locked += len(out.locked)
	failures = append(failures, out.failed)
	orphans, nLockedOrphans, err := lockedOrphans(ctx, a, store, cat.OrphanManifests, now)
	if err != nil {
		return daemon.Result{}, nil, fmt.Errorf("prune: %w", err)
	}
	if out, err = deleteReporting(ctx, a, store, "orphan manifest", orphans); err != nil {
		return daemon.Result{}, nil, fmt.Errorf("prune: delete orphan manifests: %w", err)
	}
	locked += len(out.locked)
	failures = append(failures, out.failed)
	orphansDeleted := len(orphans) - len(out.refused)
	if c.PurgeVersions {
		failures = append(failures, purgeVersions(ctx, a, store, c.Store.Prefix, now, false))
	}
	if c.AbortUploads {
		failures = append(failures, abortStaleUploads(ctx, a, store, c.Store.Prefix, c.UploadAge.d()))
	}
	summary := []any{"deleted", deleted, "locked_refused", locked, "orphan_manifests_deleted", orphansDeleted, "orphan_manifests_locked", nLockedOrphans}
	if err := errors.Join(failures...); err != nil {
		return daemon.Result{}, summary, fmt.Errorf("prune: %d backups deleted, but not everything: %w", deleted, err)
	}
	return daemon.Result{Bytes: bytes}, summary, nil
}

func abortStaleUploads(ctx context.Context, a *app, store storage.Store, prefix string, age time.Duration) error {
	s, ok := store.(storage.StaleUploadAborter)
	if !ok {
		// GCS: an unfinished resumable upload is no object, cannot be listed and expires
		// after a week; a schedule shared by several stores should not fail here.
		a.log.Info("--abort-stale-uploads: this store leaves no unfinished uploads to abort", "store", store.String())
		return nil
	}
	n, err := s.AbortStaleUploads(ctx, prefix, age)
	if err != nil {
		return fmt.Errorf("prune: abort stale uploads: %w", err)
	}
	a.log.Info("aborted stale unfinished uploads (S3 multipart uploads, Azure uncommitted blocks, temporary files)", "count", n, "older_than", age.String())
	return nil
}
