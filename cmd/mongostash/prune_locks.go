package main

import (
	"context"
	"errors"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/retention"
	"github.com/mongostash/mongostash/storage"
)

// decideWithLocks applies the policy, reads the store's locks on the backups it would
// delete (object and manifest: two requests each, and only on stores with Object Lock) and
// applies it again with them, so that a locked backup is kept, "locked until <time>", and
// never sent to the store to delete.
func decideWithLocks(ctx context.Context, store storage.Store, backups []catalog.Backup, p retention.Policy, now time.Time) ([]retention.Decision, error) {
	candidates := make([]retention.Backup, len(backups))
	byKey := make(map[string]*catalog.Backup, len(backups))
	for i := range backups {
		b := &backups[i]
		byKey[b.Key] = b
		// Seed-era objects never get a manifest and are whole when they appear: the grace
		// is for ours, which may be between their upload and their manifest.
		candidates[i] = retention.Backup{Key: b.Key, Time: b.Time, Complete: b.Restorable(),
			NoManifest: !b.HasManifest && !b.Seed, Stored: b.LastModified}
	}
	decisions := retention.Apply(candidates, p, now)
	var doomed []*catalog.Backup
	for _, d := range decisions {
		if !d.Keep {
			doomed = append(doomed, byKey[d.Backup.Key])
		}
	}
	if len(doomed) == 0 {
		return decisions, nil
	}
	if err := catalog.ReadBackupLocks(ctx, store, doomed); err != nil {
		return nil, err
	}
	for i := range candidates {
		candidates[i].LockedUntil = byKey[candidates[i].Key].LockedUntil(now)
	}
	return retention.Apply(candidates, p, now), nil
}

// deleteOutcome is what one round of deletes did.
type deleteOutcome struct {
	refused map[string]bool    // keys left: locked or failed
	locked  []storage.KeyError // refused for a lock
	failed  error              // other keys left (a *storage.DeleteError), or nil
}

// deleteReporting deletes keys and sorts what the store refused: locks are reported and
// counted, other failures kept for the end of the run, so that neither hides the other
// nor stops the prune. A failure of the whole call (the store unreachable) is returned as
// err.
func deleteReporting(ctx context.Context, a *app, store storage.Store, what string, keys []string) (deleteOutcome, error) {
	out := deleteOutcome{refused: map[string]bool{}}
	if len(keys) == 0 {
		return out, nil
	}
	err := store.Delete(ctx, keys...)
	var de *storage.DeleteError
	if err != nil && !errors.As(err, &de) {
		return out, err
	}
	out.locked, out.failed = storage.SplitDeleteError(err)
	if de != nil {
		for _, f := range de.Failed {
			out.refused[f.Key] = true
		}
	}
	for _, l := range out.locked {
		a.log.Warn("the store refused to delete a locked object: kept", "what", what, "key", l.Key, "error", l.Err.Error())
	}
	return out, nil
}

// lockedOrphans returns the orphan manifests the store still locks, logging each, and the
// keys of the others.
func lockedOrphans(ctx context.Context, a *app, store storage.Store, orphans []storage.Object, now time.Time) (free []string, locked int, err error) {
	refs := make([]catalog.ObjectRef, len(orphans))
	for i, o := range orphans {
		refs[i] = catalog.ObjectRef{Key: o.Key}
	}
	locks, err := catalog.ReadLocks(ctx, store, refs)
	if err != nil {
		return nil, 0, err
	}
	for _, o := range orphans {
		if l := locks[catalog.ObjectRef{Key: o.Key}]; l.Locked(now) {
			a.log.Info("orphan manifest kept", "key", o.Key, "reason", retention.LockedReason(l.Until))
			locked++
			continue
		}
		free = append(free, o.Key)
	}
	return free, locked, nil
}
