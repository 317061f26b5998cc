package main

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/retention"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

// askedStore is the in-memory store with locks, recording which locks were asked for: a
// fake for the pure planning of decideWithLocks (its S3 side runs in the Object Lock tests).
type askedStore struct {
	*mem.Store
	mu     sync.Mutex
	asked  []string
	locked map[string]time.Time
}

func (s *askedStore) Lock(_ context.Context, key, _ string) (storage.Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, key)
	if until, ok := s.locked[key]; ok {
		return storage.Lock{Mode: "GOVERNANCE", Until: until}, nil
	}
	return storage.Lock{}, nil
}

// TestDecideWithLocksAsksOnlyForDeletes: locks are read for the backups the policy would
// delete (object and manifest), never for those it keeps, and a locked one is kept.
func TestDecideWithLocksAsksOnlyForDeletes(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var backups []catalog.Backup
	for _, age := range []time.Duration{time.Hour, 10 * 24 * time.Hour, 40 * 24 * time.Hour, 50 * 24 * time.Hour} {
		key := catalog.BackupKey("", now.Add(-age), stream.Zstd, stream.Age)
		name, _ := catalog.ParseBackupKey("", key)
		backups = append(backups, catalog.Backup{BackupName: name, ManifestKey: catalog.ManifestKey(key), HasManifest: true, Size: 1,
			Manifest: &catalog.Manifest{Size: 1}})
	}
	old, older := backups[2].Key, backups[3].Key
	s := &askedStore{Store: mem.New(), locked: map[string]time.Time{catalog.ManifestKey(old): now.Add(time.Hour)}}
	decisions, err := decideWithLocks(t.Context(), s, backups, retention.Policy{MaxAge: 30 * 24 * time.Hour, MinKeep: 1}, now)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.asked)
	want := []string{old, catalog.ManifestKey(old), older, catalog.ManifestKey(older)}
	slices.Sort(want)
	if !slices.Equal(s.asked, want) {
		t.Errorf("asked for the locks of %v, want only those of the two expired backups %v", s.asked, want)
	}
	for _, d := range decisions {
		switch d.Backup.Key {
		case old:
			if !d.Keep || d.Reasons[0] != retention.LockedReason(now.Add(time.Hour)) {
				t.Errorf("%s: %+v, want kept, locked by its manifest", old, d)
			}
		case older:
			if d.Keep {
				t.Errorf("%s: kept: %v", older, d.Reasons)
			}
		}
	}
}
