package catalog

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

// The catalog is tested once, here, against the in-memory store; the backends are held to
// the storage contract (storagetest), which is all the catalog relies on.

// TestReadCatalog sorts a mix of complete, incomplete, mismatched, seed-era, orphan and
// foreign objects and checks each lands where the rules say.
func TestReadCatalog(t *testing.T) {
	s := mem.New()
	ctx := t.Context()
	const prefix = "prod/"
	t0 := time.Date(2026, 11, 25, 18, 48, 54, 123456000, time.UTC)
	complete := BackupKey(prefix, t0, stream.Zstd, stream.Unencrypted)
	incomplete := BackupKey(prefix, t0.Add(time.Hour), stream.Gzip, stream.Unencrypted)
	mismatch := BackupKey(prefix, t0.Add(-time.Hour), stream.None, stream.Unencrypted)
	seed := prefix + "backup-2026-11-20T03:00:00.dump"
	orphan := ManifestKey(BackupKey(prefix, t0.Add(-48*time.Hour), stream.Zstd, stream.Unencrypted))
	others := []string{prefix + "notes.txt", prefix + "old/" + "backup-2026-11-20T03:00:00.dump", "elsewhere/backup-2026-11-20T03:00:00.dump",
		prefix + OplogFolder + "anything"} // the archived oplog's folder: neither a backup nor ignored

	data := []byte(strings.Repeat("backup bytes ", 400))
	s.SetBytes(complete, data)
	s.SetBytes(incomplete, data[:10])
	s.SetBytes(mismatch, data[:20])
	s.SetBytes(seed, data[:30])
	s.SetBytes(orphan, []byte("{}"))
	for _, k := range others {
		s.SetBytes(k, []byte("not a backup"))
	}
	m := &Manifest{
		Tool: "mongostash", ToolVersion: "test", ServerVersion: "8.0.4",
		Databases: []string{"app"}, Compression: stream.Zstd,
		StartedAt: t0, FinishedAt: t0.Add(time.Minute), Size: int64(len(data)), SHA256: strings.Repeat("ab", 32),
		Namespaces: []ManifestNamespace{{Namespace: "app.users", Documents: 3, CRC: "00000000deadbeef"}},
	}
	if err := WriteManifest(ctx, s, complete, m); err != nil {
		t.Fatal(err)
	}
	if err := WriteManifest(ctx, s, mismatch, &Manifest{Compression: stream.None, Size: 999}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(ctx, s, complete)
	if err != nil {
		t.Fatal(err)
	}
	want := *m
	want.FormatVersion = ManifestFormatVersion
	if jsonOf(t, got) != jsonOf(t, &want) {
		t.Fatalf("ReadManifest = %+v, want %+v", got, &want)
	}
	if _, err := ReadManifest(ctx, s, incomplete); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ReadManifest of a backup without one = %v, want ErrNotFound", err)
	}

	cat, err := ReadCatalog(ctx, s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		key                              string
		complete, legacy, seed, manifest bool
	}
	var rows []row
	for _, b := range cat.Backups {
		rows = append(rows, row{b.Key, b.Complete(), b.Legacy(), b.Seed, b.Manifest != nil})
	}
	wantRows := []row{
		{incomplete, false, false, false, false},
		{complete, true, false, false, true},
		{mismatch, false, false, false, true},
		{seed, false, true, true, false},
	}
	if !slices.Equal(rows, wantRows) {
		t.Errorf("ReadCatalog backups =\n%+v\nwant\n%+v", rows, wantRows)
	}
	if keys := objectKeys(cat.OrphanManifests); !slices.Equal(keys, []string{orphan}) {
		t.Errorf("ReadCatalog orphan manifests = %q, want %q", keys, []string{orphan})
	}
	if keys, want := objectKeys(cat.Ignored), others[:2]; !slices.Equal(keys, want) {
		t.Errorf("ReadCatalog ignored = %q, want %q", keys, want)
	}
	backups, ignored, err := ListBackups(ctx, s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(backups) != len(wantRows) || backups[1].Size != int64(len(data)) || backups[1].Manifest == nil {
		t.Errorf("ListBackups = %+v", backups)
	}
	if keys, want := objectKeys(ignored), slices.Sorted(slices.Values([]string{others[0], others[1], orphan})); !slices.Equal(keys, want) {
		t.Errorf("ListBackups ignored = %q, want %q", keys, want)
	}
}

func objectKeys(objs []storage.Object) []string {
	keys := []string{}
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	slices.Sort(keys)
	return keys
}

// failingGets is a store whose reads fail, as a store does when it goes away between a
// listing and the reads of the manifests.
type failingGets struct{ *mem.Store }

func (failingGets) Get(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("mem: injected failure")
}

// TestCatalogUnreadableManifest checks that one bad manifest does not hide the other
// backups, and is reported on its backup.
func TestCatalogUnreadableManifest(t *testing.T) {
	s := mem.New()
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	good, bad := BackupKey("", t0, stream.Zstd, stream.Unencrypted), BackupKey("", t0.Add(time.Hour), stream.Zstd, stream.Unencrypted)
	s.SetBytes(good, []byte("data"))
	s.SetBytes(bad, []byte("data"))
	m := sampleManifest()
	m.Size = 4
	if err := WriteManifest(t.Context(), s, good, m); err != nil {
		t.Fatal(err)
	}
	s.SetBytes(ManifestKey(bad), []byte("garbage"))
	backups, ignored, err := ListBackups(t.Context(), s, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(backups) != 2 || len(ignored) != 0 {
		t.Fatalf("ListBackups = %+v, %+v", backups, ignored)
	}
	if b := backups[0]; b.Key != bad || b.Manifest != nil || !b.HasManifest || !errors.Is(b.ManifestErr, ErrInvalidManifest) || b.Complete() || b.Restorable() {
		t.Errorf("backup with a bad manifest = %+v", b)
	}
	if b := backups[1]; b.Key != good || !b.Complete() || b.ManifestErr != nil {
		t.Errorf("good backup = %+v", b)
	}
	failing := failingGets{s}
	if _, _, err := ListBackups(t.Context(), failing, ""); err == nil || !strings.Contains(err.Error(), "read manifest") {
		t.Errorf("ListBackups with failing reads = %v, want an error naming the manifest read", err)
	}
}
