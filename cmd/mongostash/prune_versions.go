package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/storage"
)

// purgeVersions deletes for good the noncurrent versions of the tool's keys whose
// retention has expired, and the delete markers left with nothing under them
// (catalog.PlanVersionPurge); with dryRun it only logs the plan. Versions the store refuses
// for a lock are reported and counted; other failures are returned.
func purgeVersions(ctx context.Context, a *app, store storage.Store, prefix string, now time.Time, dryRun bool) error {
	vs, ok := store.(storage.Versioned)
	if !ok {
		return errors.New("prune: --purge-versions: this store keeps no versions")
	}
	ctx = context.WithoutCancel(ctx)
	versions, err := vs.ListVersions(ctx, prefix)
	if err != nil {
		return fmt.Errorf("prune: purge versions: %w", err)
	}
	locks, err := catalog.ReadLocks(ctx, store, catalog.PurgeCandidates(prefix, versions))
	if err != nil {
		return fmt.Errorf("prune: purge versions: %w", err)
	}
	var doomed []storage.Version
	var kept int
	for _, d := range catalog.PlanVersionPurge(prefix, versions, locks, now) {
		action := "keep"
		if d.Delete {
			action = "delete"
			doomed = append(doomed, d.Version)
		} else {
			kept++
		}
		a.log.Info("version "+action, "key", d.Key, "version", d.VersionID, "reason", d.Reason, "dry_run", dryRun)
	}
	if dryRun || len(doomed) == 0 {
		a.log.Info("purge of noncurrent versions", "delete", len(doomed), "keep", kept, "dry_run", dryRun)
		return nil
	}
	// Versions first, then the delete markers over them: a marker whose version the store
	// refused stays, or the pruned backup would reappear.
	var data, markers []storage.Version
	for _, v := range doomed {
		if v.DeleteMarker && v.Latest {
			markers = append(markers, v)
		} else {
			data = append(data, v)
		}
	}
	refused, locked, err := deleteVersionsReporting(ctx, a, vs, data)
	var free []storage.Version
	for _, m := range markers {
		if !refused[m.Key] {
			free = append(free, m)
		}
	}
	refusedMarkers, lockedMarkers, err2 := deleteVersionsReporting(ctx, a, vs, free)
	a.log.Info("purge of noncurrent versions", "deleted", len(data)+len(free)-len(refused)-len(refusedMarkers),
		"locked_refused", locked+lockedMarkers, "keep", kept+len(markers)-len(free))
	return errors.Join(err, err2)
}

// deleteVersionsReporting deletes versions, logs those the store refused for a lock and
// returns the keys of every version that may be left (all of them when the call failed as
// a whole), how many were refused for a lock, and any other failure.
func deleteVersionsReporting(ctx context.Context, a *app, vs storage.Versioned, versions []storage.Version) (refused map[string]bool, locked int, err error) {
	refused = map[string]bool{}
	if len(versions) == 0 {
		return refused, 0, nil
	}
	err = vs.DeleteVersions(ctx, versions)
	var de *storage.DeleteError
	if err != nil && !errors.As(err, &de) {
		for _, v := range versions {
			refused[v.Key] = true
		}
		return refused, 0, fmt.Errorf("prune: purge versions: %w", err)
	}
	lockedVersions, other := storage.SplitDeleteError(err)
	for _, l := range lockedVersions {
		a.log.Warn("the store refused to delete a locked version: kept", "key", l.Key, "version", l.VersionID, "error", l.Err.Error())
	}
	if de != nil {
		for _, f := range de.Failed {
			refused[f.Key] = true
		}
	}
	if other != nil {
		return refused, len(lockedVersions), fmt.Errorf("prune: purge versions: %w", other)
	}
	return refused, len(lockedVersions), nil
}
