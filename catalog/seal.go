package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongostash/mongostash/storage"
)

// ErrObjectNotStored is wrapped by SealBackup when the object the manifest would describe is
// not stored as uploaded: gone (deleted since its upload) or of another size.
var ErrObjectNotStored = errors.New("catalog: the backup object is not stored as uploaded")

// SealBackup marks the backup stored under key complete by writing its manifest m — after
// checking that the object is still there with the size m records, since a manifest over a
// missing object would make a backup look complete that holds nothing. When the manifest
// cannot be written, SealBackup deletes the object (and whatever may have been written of
// the manifest), so that a failed backup leaves nothing; its error says whether that
// worked. When the object is not as uploaded, nothing is written and nothing deleted.
func SealBackup(ctx context.Context, s storage.Store, key string, m *Manifest) error {
	if m == nil {
		return fmt.Errorf("seal backup %s: no manifest given", key)
	}
	if err := checkStored(ctx, s, key, m.Size); err != nil {
		return err
	}
	werr := WriteManifest(ctx, s, key, m)
	if werr == nil {
		return nil
	}
	if derr := s.Delete(ctx, key, ManifestKey(key)); derr != nil {
		return fmt.Errorf("%w; deleting the backup object failed too, so it stays without a manifest (incomplete): %v", werr, derr)
	}
	return fmt.Errorf("%w; the backup object was deleted, nothing of this backup is left", werr)
}

// checkStored confirms that key is stored with size bytes.
func checkStored(ctx context.Context, s storage.Store, key string, size int64) error {
	objs, err := s.List(ctx, key)
	if err != nil {
		return fmt.Errorf("check backup object %s before writing its manifest: %w", key, err)
	}
	for _, o := range objs {
		if o.Key != key {
			continue
		}
		if o.Size != size {
			return fmt.Errorf("%w: %s has %d bytes, %d were uploaded (was it overwritten?)", ErrObjectNotStored, key, o.Size, size)
		}
		return nil
	}
	return fmt.Errorf("%w: %s was deleted after its upload, before its manifest was written (does a prune run with a grace period shorter than a backup takes?)", ErrObjectNotStored, key)
}

// State names a backup's condition in one word, for listings: "complete", "legacy",
// "incomplete" (no manifest), "size-mismatch" (the manifest records another size) or
// "invalid-manifest".
func (b Backup) State() string {
	switch {
	case b.Complete():
		return "complete"
	case b.Legacy():
		return "legacy"
	case b.ManifestErr != nil:
		return "invalid-manifest"
	case b.Manifest != nil:
		return "size-mismatch"
	}
	return "incomplete"
}

// Problem says why a backup is not restorable, "" when it is.
func (b Backup) Problem() string {
	switch b.State() {
	case "complete", "legacy":
		return ""
	case "invalid-manifest":
		return fmt.Sprintf("its manifest %s cannot be used: %v", b.ManifestKey, b.ManifestErr)
	case "size-mismatch":
		return fmt.Sprintf("its manifest %s records %d bytes, the object has %d", b.ManifestKey, b.Manifest.Size, b.Size)
	}
	return fmt.Sprintf("it has no manifest (%s): its backup failed or has not finished", b.ManifestKey)
}
