package pitr

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

// storeBaseBackup stores a complete backup (object and manifest) whose oplog ends at end.
func storeBaseBackup(t *testing.T, s storage.Store, at time.Time, end optime.Timestamp) string {
	t.Helper()
	ctx := context.Background()
	key := catalog.BackupKey(archPrefix, at, stream.Zstd, stream.Unencrypted)
	put, err := s.Put(ctx, key, bytes.NewReader([]byte("a backup's bytes")))
	if err != nil {
		t.Fatal(err)
	}
	m := &catalog.Manifest{Tool: "mongostash", ToolVersion: "test", Databases: []string{"d"}, Compression: stream.Zstd,
		StartedAt: at, FinishedAt: at.Add(time.Second), Size: put.Size, SHA256: put.SHA256,
		Oplog: &catalog.OplogRange{Start: end, End: end, Entries: 1}}
	if err := catalog.SealBackup(ctx, s, key, m); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestArchiverStartsAtTheNewestBaseBackup: with no chunk yet, the first chain starts at
// the consistent point of the newest base backup, so the first recovery window opens
// there; entries before it are not archived.
func TestArchiverStartsAtTheNewestBaseBackup(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	writeOps(t, m, "c", 0, 10)
	storeBaseBackup(t, s, time.Now().Add(-time.Hour), newestEntry(t, m.Client).Prev())
	writeOps(t, m, "c", 10, 10)
	consistent := newestEntry(t, m.Client)
	key := storeBaseBackup(t, s, time.Now().Add(-time.Minute), consistent)
	writeOps(t, m, "c", 20, 10)
	r := startArchiver(t, m.Client, archOptions(s))
	r.waitStatus(t, "a chunk", func(st Status) bool { return st.Chunks >= 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	_, cs := archived(t, s)
	if len(cs.Chains) != 1 {
		t.Fatalf("want one chain, got %+v", cs)
	}
	ch := cs.Chains[0]
	if ch.Since != consistent || !strings.Contains(ch.Chunks[0].Manifest.ChainStart, key) {
		t.Fatalf("the chain starts at %s (%q), want the consistent point %s of %s", ch.Since, ch.Chunks[0].Manifest.ChainStart, consistent, key)
	}
	sameEntries(t, "chain from the base backup", chainEntries(t, s, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
}

// TestArchiverBaseBackupOlderThanTheOplog: a base backup whose consistent point the
// oplog no longer holds cannot be brought forward: the chain starts just before the
// oldest entry, and no gap is recorded (there was no archive to break).
func TestArchiverBaseBackupOlderThanTheOplog(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	writeOps(t, m, "c", 0, 10)
	consistent := newestEntry(t, m.Client)
	storeBaseBackup(t, s, time.Now().Add(-time.Hour), consistent)
	writeOps(t, m, "c", 10, 10)
	if err := testenv.TrimOplog(context.Background(), m.Client, bson.Timestamp(consistent)); err != nil {
		t.Fatal(err)
	}
	oldest := oplogBetween(t, m.Client, consistent, newestEntry(t, m.Client))[0]
	oldestTS, _ := oplog.EntryTimestamp(oldest)
	r := startArchiver(t, m.Client, archOptions(s))
	r.waitStatus(t, "a chunk", func(st Status) bool { return st.Chunks >= 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, cs := archived(t, s)
	if len(oc.Gaps) != 0 || len(cs.Chains) != 1 || cs.Chains[0].Since != oldestTS.Prev() {
		t.Fatalf("want one chain from just before %s and no gap, got %+v gaps %+v", oldestTS, cs, oc.Gaps)
	}
}

// TestArchiverGapClosesWithANewBaseBackup: the status keeps a gap open (for /healthz)
// until a complete base backup replays from after it.
func TestArchiverGapClosesWithANewBaseBackup(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	r := startArchiver(t, m.Client, archOptions(s))
	writeOps(t, m, "c", 0, 10)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	writeOps(t, m, "c", 10, 10)
	if err := testenv.TrimOplog(context.Background(), m.Client, bson.Timestamp(newestEntry(t, m.Client))); err != nil {
		t.Fatal(err)
	}
	writeOps(t, m, "c", 20, 5)
	r = startArchiver(t, m.Client, archOptions(s))
	st := r.waitStatus(t, "the gap", func(st Status) bool { return st.Gaps == 1 })
	if st.OpenGap == nil {
		t.Fatal("the gap is not open")
	}
	writeOps(t, m, "c", 25, 5)
	chunks := r.waitStatus(t, "a chunk after the gap", func(st Status) bool { return st.Chunks >= 1 }).Chunks
	if r.a.Status().OpenGap == nil {
		t.Fatal("the gap closed without a base backup")
	}
	storeBaseBackup(t, s, time.Now(), newestEntry(t, m.Client))
	writeOps(t, m, "c", 30, 5)
	r.waitStatus(t, "the gap closed", func(st Status) bool { return st.Chunks > chunks && st.OpenGap == nil })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestArchiverNamespaceSelection: with a selection, chunks hold the selected entries
// only, but their ranges cover every entry read, so the chain has no hole; the scope is
// recorded in every manifest.
func TestArchiverNamespaceSelection(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	opts := archOptions(s)
	want := m.DB + ".keep"
	opts.Namespaces = func(ns string) bool { return ns == want }
	opts.Scope = catalog.ChunkScope{Include: []string{want}}
	r := startArchiver(t, m.Client, opts)
	writeOps(t, m, "keep", 0, 20)
	writeOps(t, m, "drop", 0, 20)
	writeOps(t, m, "keep", 20, 5)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, cs := archived(t, s)
	if len(cs.Chains) != 1 {
		t.Fatalf("want one chain, got %+v", cs)
	}
	ch := cs.Chains[0]
	var selected []bson.Raw
	for _, e := range oplogBetween(t, m.Client, ch.Since, ch.Until) {
		if ns, _ := e.Lookup("ns").StringValueOK(); ns == want {
			selected = append(selected, e)
		}
	}
	sameEntries(t, "selected entries", chainEntries(t, s, ch), selected)
	for _, c := range oc.Chunks {
		if !c.Manifest.Scope.Equal(opts.Scope) {
			t.Errorf("%s: scope %s", c.Key, c.Manifest.Scope)
		}
	}
}
