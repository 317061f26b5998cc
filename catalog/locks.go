package catalog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mongostash/mongostash/storage"
	"golang.org/x/sync/errgroup"
)

// lockReaders bounds how many locks are read at once: each is one request to the store.
const lockReaders = 8

// ObjectRef names a stored object, or one version of it.
type ObjectRef struct {
	Key       string
	VersionID string // "" for the current version
}

// ReadLocks reads the locks of refs, at most lockReaders at once. With a store that cannot
// lock objects (no storage.LockReader) it reads nothing and returns an empty map; objects
// deleted meanwhile are left out. It is the one way the tool asks about locks, for backups,
// manifests and any other kind of object.
func ReadLocks(ctx context.Context, s storage.Store, refs []ObjectRef) (map[ObjectRef]storage.Lock, error) {
	locks := map[ObjectRef]storage.Lock{}
	lr, ok := s.(storage.LockReader)
	if !ok || len(refs) == 0 {
		return locks, nil
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lockReaders)
	for _, ref := range refs {
		g.Go(func() error {
			l, err := lr.Lock(gctx, ref.Key, ref.VersionID)
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err // the store's error names the key
			}
			mu.Lock()
			locks[ref] = l
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return locks, nil
}

// ReadBackupLocks sets the Lock and ManifestLock of each of backups from the store: two
// requests per backup on a store with Object Lock, none on other stores.
func ReadBackupLocks(ctx context.Context, s storage.Store, backups []*Backup) error {
	refs := make([]ObjectRef, 0, 2*len(backups))
	for _, b := range backups {
		refs = append(refs, ObjectRef{Key: b.Key})
		if b.HasManifest {
			refs = append(refs, ObjectRef{Key: b.ManifestKey})
		}
	}
	locks, err := ReadLocks(ctx, s, refs)
	if err != nil {
		return err
	}
	for _, b := range backups {
		b.Lock = locks[ObjectRef{Key: b.Key}]
		b.ManifestLock = locks[ObjectRef{Key: b.ManifestKey}]
	}
	return nil
}

// LockedUntil is when the last lock on the backup's object or its manifest that is still
// in force at now expires; zero when neither is locked. The manifest, written after the
// object, is usually locked a little longer; the backup is deleted only when both can go,
// so that a refused manifest never outlives its object nor an object its manifest.
func (b Backup) LockedUntil(now time.Time) time.Time {
	var until time.Time
	for _, l := range []storage.Lock{b.Lock, b.ManifestLock} {
		if l.Locked(now) && l.Until.After(until) {
			until = l.Until
		}
	}
	return until
}

// Owns reports whether key is one of the tool's objects under prefix: a backup or the
// manifest of one, directly under prefix, or what pitr writes in the oplog folder — a chunk,
// its manifest, a gap marker, the lease and the index. Everything else under a prefix is
// never touched. (prune --purge-versions removes the expired noncurrent versions of these:
// in a versioned bucket every lease renewal and index update leaves one.)
func Owns(prefix, key string) bool {
	stem := strings.TrimSuffix(key, ManifestSuffix)
	if _, ok := ParseBackupKey(prefix, stem); ok {
		return true
	}
	if _, ok := ParseChunkKey(prefix, stem); ok {
		return true
	}
	if _, _, ok := ParseGapKey(prefix, key); ok {
		return true
	}
	return isBookkeeping(prefix, key)
}
