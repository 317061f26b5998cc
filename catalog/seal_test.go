package catalog

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

func sealedManifest(size int64) *Manifest {
	return &Manifest{Tool: "mongostash", Compression: stream.Zstd, Size: size, StartedAt: time.Unix(0, 0)}
}

// TestSealBackup writes the manifest of a stored object.
func TestSealBackup(t *testing.T) {
	s := mem.New()
	s.SetBytes("k", []byte("twelve bytes"))
	if err := SealBackup(t.Context(), s, "k", sealedManifest(12)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(t.Context(), s, "k"); err != nil {
		t.Fatalf("no manifest after SealBackup: %v", err)
	}
}

// TestSealBackupObjectGone: a backup whose object was deleted (by a prune) after its upload
// writes no manifest, so no backup looks complete that holds nothing.
func TestSealBackupObjectGone(t *testing.T) {
	s := mem.New()
	s.SetBytes("other", []byte("x"))
	err := SealBackup(t.Context(), s, "k", sealedManifest(12))
	if !errors.Is(err, ErrObjectNotStored) || !strings.Contains(err.Error(), "was deleted after its upload") {
		t.Fatalf("got %v, want ErrObjectNotStored", err)
	}
	if _, err := ReadManifest(t.Context(), s, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a manifest was written: %v", err)
	}
	s.SetBytes("k", []byte("other size"))
	if err := SealBackup(t.Context(), s, "k", sealedManifest(12)); !errors.Is(err, ErrObjectNotStored) {
		t.Errorf("object of another size: got %v, want ErrObjectNotStored", err)
	}
	if _, err := s.Get(t.Context(), "k"); err != nil {
		t.Errorf("an object not as uploaded was deleted: %v", err)
	}
}

// TestSealBackupManifestFails: when the manifest cannot be written, the object is deleted
// and the error says so; when that fails too, the error says the object stays.
func TestSealBackupManifestFails(t *testing.T) {
	s := &refusingStore{Store: mem.New()}
	s.SetBytes("k", []byte("twelve bytes"))
	err := SealBackup(t.Context(), s, "k", sealedManifest(12))
	if err == nil || !strings.Contains(err.Error(), "the backup object was deleted") {
		t.Fatalf("got %v, want the object deleted", err)
	}
	if objs, _ := s.List(t.Context(), ""); len(objs) != 0 {
		t.Errorf("left: %v", objs)
	}
	s.SetBytes("k", []byte("twelve bytes"))
	s.deleteErr = errors.New("delete refused")
	err = SealBackup(t.Context(), s, "k", sealedManifest(12))
	if err == nil || !strings.Contains(err.Error(), "stays without a manifest") {
		t.Fatalf("got %v, want the object said to stay", err)
	}
}

// refusingStore refuses every Put, and every Delete when deleteErr is set.
type refusingStore struct {
	*mem.Store
	deleteErr error
}

func (r *refusingStore) Put(ctx context.Context, key string, _ io.Reader) (storage.PutResult, error) {
	return storage.PutResult{}, errors.New("put refused")
}

func (r *refusingStore) Delete(ctx context.Context, keys ...string) error {
	if r.deleteErr != nil {
		return r.deleteErr
	}
	return r.Store.Delete(ctx, keys...)
}

// TestBackupState names each condition of a backup.
func TestBackupState(t *testing.T) {
	m := &Manifest{Size: 10}
	for _, tc := range []struct {
		b    Backup
		want string
	}{
		{Backup{Size: 10, Manifest: m, HasManifest: true}, "complete"},
		{Backup{BackupName: BackupName{Seed: true}, Size: 3}, "legacy"},
		{Backup{Size: 11, Manifest: m, HasManifest: true, ManifestKey: "k.manifest.json"}, "size-mismatch"},
		{Backup{HasManifest: true, ManifestErr: ErrInvalidManifest}, "invalid-manifest"},
		{Backup{Size: 10}, "incomplete"},
	} {
		if got := tc.b.State(); got != tc.want {
			t.Errorf("%+v: state %s, want %s", tc.b, got, tc.want)
		}
		if (tc.b.Problem() == "") != tc.b.Restorable() {
			t.Errorf("%s: problem %q but restorable %v", tc.want, tc.b.Problem(), tc.b.Restorable())
		}
	}
	if p := (Backup{Size: 11, Manifest: m, ManifestKey: "k.manifest.json"}).Problem(); !strings.Contains(p, "k.manifest.json records 10 bytes, the object has 11") {
		t.Errorf("size mismatch problem: %q", p)
	}
}
