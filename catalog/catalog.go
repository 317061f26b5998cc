package catalog

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/mongostash/mongostash/storage"
)

// Backup is one backup object found under a prefix, with its manifest when it has one.
//
// The rule for "complete": a backup is complete when its manifest exists, was readable, and
// records the size the object has. The manifest is written only after the object is fully
// stored, so a backup of ours without a manifest is one whose run died between the upload
// and the manifest (or whose manifest write failed): whole as an object, but unverified. A
// seed-era object never had a manifest; it is "legacy": listed, restorable and prunable.
type Backup struct {
	BackupName
	Size         int64
	LastModified time.Time
	// Manifest is the backup's manifest; nil when it has none (legacy or incomplete) or
	// when it could not be decoded (see ManifestErr).
	Manifest    *Manifest
	ManifestKey string // ManifestKey(Key), whether or not it exists
	HasManifest bool   // the manifest object exists
	// ManifestErr says why Manifest is nil although HasManifest is true: the object under
	// ManifestKey is not a manifest this version understands (it wraps ErrInvalidManifest).
	ManifestErr error
	// Lock and ManifestLock are the store's locks (S3 Object Lock retention) on the object
	// and its manifest; zero until ReadBackupLocks reads them, and on stores without locks.
	Lock, ManifestLock storage.Lock
}

// Complete reports whether the backup has a readable manifest recording the size the
// object has: the mark of a backup that mongostash finished.
func (b Backup) Complete() bool {
	return b.Manifest != nil && b.Manifest.Size == b.Size
}

// Legacy reports a seed-era backup: a seed-style name and no manifest. Such objects were
// written whole by the seed's upload and are restorable.
func (b Backup) Legacy() bool {
	return b.Seed && !b.HasManifest
}

// Restorable reports whether the backup may be restored without forcing: it is complete
// or legacy.
func (b Backup) Restorable() bool {
	return b.Complete() || b.Legacy()
}

// Catalog is everything directly or indirectly under a prefix, sorted out.
type Catalog struct {
	// Backups are the backups directly under the prefix, newest first (ties by key,
	// descending), each with its manifest read.
	Backups []Backup
	// OrphanManifests are manifests directly under the prefix, named after a valid backup
	// key, whose backup object does not exist (e.g. the object was deleted by hand or a
	// prune died between its two deletes). They are ours, so prune may remove them.
	OrphanManifests []storage.Object
	// Ignored is everything else under the prefix but the oplog folder (OplogCatalog sorts
	// that out), sorted by key: not ours, never touched.
	Ignored []storage.Object
}

// ReadCatalog lists everything under prefix and sorts it into backups (with their
// manifests), orphan manifests and ignored objects. A manifest that cannot be decoded does
// not fail the listing: its backup is reported with ManifestErr set.
func ReadCatalog(ctx context.Context, s storage.Store, prefix string) (*Catalog, error) {
	c := &Catalog{}
	parse := func(key string) (BackupName, bool) { return ParseBackupKey(prefix, key) }
	all, err := listWithoutOplog(ctx, s, prefix)
	if err != nil {
		return nil, err
	}
	c.OrphanManifests, c.Ignored = listObjects(all, parse, func(name BackupName, o storage.Object, mk string, has bool) {
		c.Backups = append(c.Backups, Backup{BackupName: name, Size: o.Size, LastModified: o.LastModified, ManifestKey: mk, HasManifest: has})
	})
	slices.SortFunc(c.Backups, func(a, b Backup) int {
		if n := b.Time.Compare(a.Time); n != 0 {
			return n
		}
		return strings.Compare(b.Key, a.Key)
	})
	sortObjects(c.OrphanManifests)
	sortObjects(c.Ignored)
	slots := make([]manifestSlot[Manifest], len(c.Backups))
	for i := range c.Backups {
		b := &c.Backups[i]
		slots[i] = manifestSlot[Manifest]{key: b.Key, has: &b.HasManifest, manifest: &b.Manifest, invalid: &b.ManifestErr}
	}
	read := func(ctx context.Context, key string) (*Manifest, error) { return ReadManifest(ctx, s, key) }
	if err := readManifests(ctx, slots, read); err != nil {
		return nil, err // ReadManifest's error names the manifest
	}
	return c, nil
}

// ListBackups lists the backups directly under prefix, newest first, with their manifests.
// ignored is everything else under prefix that is not the manifest of a listed backup,
// sorted by key; it includes orphan manifests, which ReadCatalog reports separately for
// prune to remove.
func ListBackups(ctx context.Context, s storage.Store, prefix string) (backups []Backup, ignored []storage.Object, err error) {
	c, err := ReadCatalog(ctx, s, prefix)
	if err != nil {
		return nil, nil, err
	}
	ignored = append(c.Ignored, c.OrphanManifests...)
	sortObjects(ignored)
	return c.Backups, ignored, nil
}

func sortObjects(objs []storage.Object) {
	slices.SortFunc(objs, func(a, b storage.Object) int { return cmp.Compare(a.Key, b.Key) })
}
