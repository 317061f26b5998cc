package catalog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

// lockingStore is the in-memory store with locks set by the test: a fake for the pure
// logic of reading and combining locks. The S3 backend's locks are tested against the
// test bed's S3 server (storage/s3) and end to end by the CLI's prune tests.
type lockingStore struct {
	*mem.Store
	mu    sync.Mutex
	locks map[ObjectRef]storage.Lock
	asked []ObjectRef
	fail  string // a key whose lock cannot be read
}

func (s *lockingStore) Lock(_ context.Context, key, versionID string) (storage.Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := ObjectRef{key, versionID}
	s.asked = append(s.asked, ref)
	if key == s.fail {
		return storage.Lock{}, fmt.Errorf("read the retention of %s: the store is down", key)
	}
	if _, ok := s.Bytes(key); !ok {
		return storage.Lock{}, fmt.Errorf("read the retention of %s: %w", key, storage.ErrNotFound)
	}
	return s.locks[ref], nil
}

func TestReadBackupLocks(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	t0 := now.Add(-40 * 24 * time.Hour)
	a, b, c := BackupKey("", t0, stream.Zstd, stream.Age), BackupKey("", t0.Add(time.Hour), stream.Zstd, stream.Age), BackupKey("", t0.Add(2*time.Hour), stream.Zstd, stream.Age)
	s := &lockingStore{Store: mem.New(), locks: map[ObjectRef]storage.Lock{
		{Key: a}:              {Mode: "GOVERNANCE", Until: now.Add(time.Hour)},
		{Key: ManifestKey(a)}: {Mode: "GOVERNANCE", Until: now.Add(2 * time.Hour)}, // written later, locked longer
		{Key: b}:              {Mode: "COMPLIANCE", Until: now.Add(-time.Hour)},    // expired
		{Key: ManifestKey(b)}: {Mode: "COMPLIANCE", Until: now.Add(-time.Minute)},
	}}
	for _, k := range []string{a, ManifestKey(a), b, ManifestKey(b), c} { // c has no manifest
		s.SetBytes(k, []byte("x"))
	}
	backups := []*Backup{
		{BackupName: BackupName{Key: a}, ManifestKey: ManifestKey(a), HasManifest: true},
		{BackupName: BackupName{Key: b}, ManifestKey: ManifestKey(b), HasManifest: true},
		{BackupName: BackupName{Key: c}, ManifestKey: ManifestKey(c)},
	}
	if err := ReadBackupLocks(t.Context(), s, backups); err != nil {
		t.Fatal(err)
	}
	if got := backups[0].LockedUntil(now); !got.Equal(now.Add(2 * time.Hour)) {
		t.Errorf("LockedUntil(a) = %v, want the manifest's later lock", got)
	}
	if backups[0].Lock.Mode != "GOVERNANCE" {
		t.Errorf("Lock(a) = %+v", backups[0].Lock)
	}
	if got := backups[1].LockedUntil(now); !got.IsZero() {
		t.Errorf("LockedUntil(b) = %v, want zero: its locks expired", got)
	}
	if got := backups[2].LockedUntil(now); !got.IsZero() || len(s.asked) != 5 {
		t.Errorf("LockedUntil(c) = %v after asking %v; want zero, and no question about c's absent manifest", got, s.asked)
	}

	s.fail = b
	if err := ReadBackupLocks(t.Context(), s, backups); err == nil || !strings.Contains(err.Error(), b) {
		t.Errorf("ReadBackupLocks with a failing store = %v, want the store's error naming the key", err)
	}
	// A store without locks is asked nothing.
	if locks, err := ReadLocks(t.Context(), mem.New(), []ObjectRef{{Key: a}}); err != nil || len(locks) != 0 {
		t.Errorf("ReadLocks(mem) = %v, %v", locks, err)
	}
	// Gone since the listing: left out, not an error.
	if locks, err := ReadLocks(t.Context(), s, []ObjectRef{{Key: "gone"}}); err != nil || len(locks) != 0 {
		t.Errorf("ReadLocks(gone) = %v, %v", locks, err)
	}
}

func TestOwns(t *testing.T) {
	k := BackupKey("p/", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), stream.Gzip, stream.Age)
	for key, want := range map[string]bool{
		k:                                   true,
		ManifestKey(k):                      true,
		"p/backup-2026-11-20T03:00:00.dump": true, // the seed's
		"p/notes.txt":                       false,
		"p/notes.txt" + ManifestSuffix:      false,
		"p/sub/" + k[2:]:                    false,
		k[2:]:                               false, // outside the prefix
	} {
		if got := Owns("p/", key); got != want {
			t.Errorf("Owns(p/, %q) = %v, want %v", key, got, want)
		}
	}
}
