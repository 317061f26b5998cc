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
	err = vs.DeleteVersions(ctx, doomed)
	var de *storage.DeleteError
	if err != nil && !errors.As(err, &de) {
		return fmt.Errorf("prune: purge versions: %w", err)
	}
	locked, other := storage.SplitDeleteError(err)
	for _, l := range locked {
		a.log.Warn("the store refused to delete a locked version: kept", "key", l.Key, "version", l.VersionID, "error", l.Err.Error())
	}
	refused := 0
	if de != nil {
		refused = len(de.Failed)
	}
	a.log.Info("purge of noncurrent versions", "deleted", len(doomed)-refused, "locked_refused", len(locked), "keep", kept)
	if other != nil {
		return fmt.Errorf("prune: purge versions: %w", other)
	}
	return nil
}
