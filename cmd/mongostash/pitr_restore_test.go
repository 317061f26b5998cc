package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	s3store "github.com/mongostash/mongostash/storage/s3"
	"github.com/mongostash/mongostash/stream"
)

// Point-in-time recovery, the reading half: chunks written here from the real oplog of a
// FerretDB v1 exactly as the archiver's contract says (the object through
// stream.NewWriter, then its manifest), read back by restore --to-time, list and prune.

// pitrFixture is a base backup (with its own oplog, unless asked otherwise), writes in
// phase A, the moment T, and writes in phase B, all in the oplog of a FerretDB v1 of the
// test's own.
type pitrFixture struct {
	b          *bed
	store      storage.Store
	baseKey    string
	baseEnd    optime.Timestamp // the base backup's consistent point
	replayFrom optime.Timestamp // where its replay starts: baseEnd, or before a backup without an oplog
	t          optime.Timestamp // the last entry of phase A
	atT        snapshot         // the database as it was at T
	entriesT   int64            // entries in (replayFrom, t]
	newest     optime.Timestamp // the last entry of phase B
	enc        stream.Encoding  // of the chunks archive writes; zero: zstd
}

func newPITRFixture(t *testing.T) *pitrFixture { return newPITRFixtureOf(t, true) }

func newPITRFixtureOf(t *testing.T, oplogBackup bool) *pitrFixture {
	t.Helper()
	f := &pitrFixture{b: newOplogBed(t)}
	f.b.env = f.b.env.with("BACKUP_OPLOG", fmt.Sprint(oplogBackup))
	f.store = openTestStore(t, f.b)
	pitrWrites(t, f.b, "setup", 0, 40)
	mustRun(t, f.b.env, "backup")
	cat, err := catalog.ReadCatalog(context.Background(), f.store, "")
	if err != nil || len(cat.Backups) != 1 || (cat.Backups[0].Manifest.Oplog != nil) != oplogBackup {
		t.Fatalf("catalog: %+v %v", cat, err)
	}
	bp, _ := catalog.BasePointOf(cat.Backups[0])
	f.baseKey, f.baseEnd, f.replayFrom = bp.Key, bp.ConsistentAt, bp.ReplayFrom
	// Phase A starts in the second after the consistent point's (a backup without an oplog
	// is consistent only a margin past its end), so that the window spans whole seconds.
	time.Sleep(time.Until(time.Unix(int64(f.baseEnd.T)+1, 0).Add(50 * time.Millisecond)))
	pitrWrites(t, f.b, "A", 20, 60)
	f.t = newestTS(t, f.b.mongo.Client)
	f.atT = takeSnapshot(t, f.b.mongo.Client, f.b.mongo.DB)
	// Phase B starts in a later second, so that T's second as an RFC 3339 target holds
	// phase A only.
	time.Sleep(time.Until(time.Unix(int64(f.t.T)+1, 0).Add(50 * time.Millisecond)))
	pitrWrites(t, f.b, "B", 50, 100)
	f.newest = newestTS(t, f.b.mongo.Client)
	if now := takeSnapshot(t, f.b.mongo.Client, f.b.mongo.DB); len(now["a"].docs) == len(f.atT["a"].docs) {
		t.Fatal("phase B changed nothing a restore to T could be told from")
	}
	f.entriesT = int64(len(readOplog(t, f, f.replayFrom, f.t)))
	if f.entriesT < 50 || !f.t.Before(f.newest) {
		t.Fatalf("phase A logged %d entries; T %s, newest %s", f.entriesT, f.t, f.newest)
	}
	return f
}

// pitrWrites inserts documents from..to-1 into two collections, then updates every
// third and deletes every fifth, each its own oplog entry.
func pitrWrites(t *testing.T, b *bed, phase string, from, to int) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		c := b.mongo.Client.Database(b.mongo.DB).Collection(name)
		for i := from; i < to; i++ {
			if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, bson.D{{Key: "$set", Value: bson.D{{Key: "phase", Value: phase}, {Key: "n", Value: i}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
				t.Fatal(err)
			}
		}
		for i := from; i < to; i += 3 {
			if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, bson.D{{Key: "$set", Value: bson.D{{Key: "touched", Value: phase}}}}); err != nil {
				t.Fatal(err)
			}
		}
		for i := from; i < to; i += 5 {
			if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func openTestStore(t testing.TB, b *bed) storage.Store {
	t.Helper()
	s, err := s3store.New(context.Background(), s3store.Config{Endpoint: b.bucket.Endpoint, Bucket: b.bucket.Name,
		Region: b.bucket.Region, AccessKey: b.bucket.AccessKey, SecretKey: b.bucket.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readOplog returns the server's oplog entries in (since, until].
func readOplog(t *testing.T, f *pitrFixture, since, until optime.Timestamp) []bson.Raw {
	t.Helper()
	src, err := oplog.OpenSource(context.Background(), f.b.mongo.Client)
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	err = src.ReadRange(context.Background(), since, until, 1000, func(e bson.Raw) error {
		if ts, i, _ := e.Lookup("ts").TimestampOK(); (optime.Timestamp{T: ts, I: i}) != since {
			out = append(out, append(bson.Raw(nil), e...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// archive stores the oplog (since, until] as chunks of at most perChunk entries, each
// ending at its last entry and the last at until, as the archiver does; it returns
// their keys.
func (f *pitrFixture) archive(t *testing.T, since, until optime.Timestamp, perChunk int) []string {
	t.Helper()
	es := readOplog(t, f, since, until)
	var keys []string
	for len(es) > 0 {
		n := min(perChunk, len(es))
		end := entryTS(es[n-1])
		if n == len(es) {
			end = until
		}
		keys = append(keys, writeTestChunkAs(t, f.store, since, end, es[:n], f.enc))
		since, es = end, es[n:]
	}
	return keys
}

func entryTS(e bson.Raw) optime.Timestamp {
	ts, i, _ := e.Lookup("ts").TimestampOK()
	return optime.Timestamp{T: ts, I: i}
}

// writeTestChunk is the chunk format's contract: concatenated entries through
// stream.NewWriter (zstd) under catalog.ChunkKey, then catalog.WriteChunkManifest.
func writeTestChunk(t testing.TB, s storage.Store, since, until optime.Timestamp, es []bson.Raw) string {
	t.Helper()
	return writeTestChunkAs(t, s, since, until, es, stream.Encoding{Compression: stream.Zstd})
}

// writeTestChunkAs is writeTestChunk with the given encoding (zstd when none is given).
func writeTestChunkAs(t testing.TB, s storage.Store, since, until optime.Timestamp, es []bson.Raw, enc stream.Encoding) string {
	t.Helper()
	if enc.Compression == "" {
		enc.Compression = stream.Zstd
	}
	ctx := context.Background()
	var plain, stored bytes.Buffer
	for _, e := range es {
		plain.Write(e)
	}
	w, err := stream.NewWriter(&stored, enc)
	if err == nil {
		_, err = w.Write(plain.Bytes())
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	key := catalog.ChunkKey("", since, until, enc.Compression, enc.Encryption())
	if _, err := s.Put(ctx, key, bytes.NewReader(stored.Bytes())); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored.Bytes())
	m := &catalog.ChunkManifest{Tool: "mongostash", Since: since, Until: until, Entries: int64(len(es)),
		RawSize: int64(plain.Len()), CRC32C: catalog.FormatCRC32C(crc32.Checksum(plain.Bytes(), crc32.MakeTable(crc32.Castagnoli))),
		Compression: enc.Compression, Encryption: enc.Encryption(), Recipients: enc.Recipients.Keys(), Size: int64(stored.Len()), SHA256: hex.EncodeToString(sum[:]), WrittenAt: time.Now()}
	if len(es) > 0 {
		m.First, m.Last = entryTS(es[0]), entryTS(es[len(es)-1])
	}
	if err := catalog.WriteChunkManifest(ctx, s, "", key, m); err != nil {
		t.Fatal(err)
	}
	return key
}

// restoreInto is restore --to-time target into the database to, under its own names.
func (f *pitrFixture) restoreInto(t *testing.T, to, target string, extra ...string) result {
	t.Helper()
	args := append([]string{"restore", "--to-time", target, "--ns-from", f.b.mongo.DB + ".*", "--ns-to", to + ".*"}, extra...)
	return runCLI(t, f.b.env, args...)
}

func (f *pitrFixture) newTarget(t *testing.T) string {
	t.Helper()
	name := testenv.UniqueName("pitr")
	t.Cleanup(func() { _ = f.b.mongo.Client.Database(name).Drop(context.Background()) })
	return name
}

func tsArg(ts optime.Timestamp) string { return fmt.Sprintf("%d,%d", ts.T, ts.I) }

// TestRestoreToTimeEqualsTheDatabaseAtT is the test: base backup, writes in
// phase A, T, writes in phase B, the oplog archived in chunks; restore --to-time T into
// another database equals a copy taken at T exactly, whether T is given as the oplog
// timestamp of its last entry or as the RFC 3339 second (phase B begins in a later
// second); --dry-run names the base and the chunks and counts the entries, writing
// nothing; with --drop a later target replaces what the earlier restore wrote.
func TestRestoreToTimeEqualsTheDatabaseAtT(t *testing.T) {
	f := newPITRFixture(t)
	keys := f.archive(t, f.baseEnd, f.newest, 37)
	if len(keys) < 4 {
		t.Fatalf("only %d chunks", len(keys))
	}

	dry := f.newTarget(t)
	r := f.restoreInto(t, dry, tsArg(f.t), "--dry-run")
	if r.code != 0 {
		t.Fatalf("dry run: %s", r)
	}
	t.Logf("dry run:\n%s", r.stdout)
	for _, want := range []string{f.baseKey, keys[0], fmt.Sprintf("oplog entries to replay from the chunks: %d ", f.entriesT)} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := takeSnapshot(t, f.b.mongo.Client, dry); len(got) != 0 {
		t.Errorf("the dry run wrote %d collections", len(got))
	}

	for _, target := range []string{tsArg(f.t), time.Unix(int64(f.t.T), 0).UTC().Format(time.RFC3339)} {
		to := f.newTarget(t)
		r := f.restoreInto(t, to, target)
		if r.code != 0 {
			t.Fatalf("restore --to-time %s: %s", target, r)
		}
		if !strings.Contains(r.stderr, fmt.Sprintf(`"chunk_entries":%d`, f.entriesT)) {
			t.Errorf("restore --to-time %s does not report %d chunk entries:\n%s", target, f.entriesT, r.stderr)
		}
		compareSnapshots(t, takeSnapshot(t, f.b.mongo.Client, to), f.atT)

		// The same database brought to the newest entry with --drop: the source as it is.
		// Named by its timestamp once, and once as latest (the end of the newest window).
		newest := map[bool]string{true: tsArg(f.newest), false: "latest"}[strings.Contains(target, ",")]
		if r := f.restoreInto(t, to, newest, "--drop"); r.code != 0 {
			t.Fatalf("restore --drop --to-time %s: %s", newest, r)
		}
		compareSnapshots(t, takeSnapshot(t, f.b.mongo.Client, to), takeSnapshot(t, f.b.mongo.Client, f.b.mongo.DB))
	}
}

// objectKeys lists every key under the oplog folder.
func objectKeys(t *testing.T, s storage.Store) map[string]bool {
	t.Helper()
	objs, err := s.List(context.Background(), catalog.OplogFolder)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, o := range objs {
		out[o.Key] = true
	}
	return out
}

// gapScenario archives the oplog as two chains: (base, T] and, after a gap recorded
// from T to the 30th entry of phase B, the rest up to the newest entry. It returns an
// entry inside the gap and the keys of the first chain.
func (f *pitrFixture) gapScenario(t *testing.T) (inGap optime.Timestamp, chain1 []string) {
	t.Helper()
	chain1 = f.archive(t, f.baseEnd, f.t, 30)
	phaseB := readOplog(t, f, f.t, f.newest)
	resume := entryTS(phaseB[30])
	if _, err := catalog.WriteGapMarker(context.Background(), f.store, "", &catalog.GapMarker{After: f.t, Resume: resume,
		DetectedAt: time.Now(), Reason: "test: the oplog no longer held the last archived entry"}); err != nil {
		t.Fatal(err)
	}
	f.archive(t, resume.Prev(), f.newest, 40)
	return entryTS(phaseB[10]), chain1
}

// TestRestoreToTimeRefusesBeforeWriting: a target inside a recorded gap, behind a missing
// chunk, after the last archived entry or before every base backup is refused with exit 1
// before anything is written, naming the gap or hole and the windows there are; a target
// that cannot be read, or --to-time with flags it cannot go with, is a usage error (2).
func TestRestoreToTimeRefusesBeforeWriting(t *testing.T) {
	f := newPITRFixture(t)
	inGap, chain1 := f.gapScenario(t)
	window := "restorable to any second from " + f.baseEnd.Time().Format(time.RFC3339)
	check := func(name string, r result, code int, wants ...string) {
		t.Helper()
		if r.code != code {
			t.Errorf("%s: exit %d, want %d: %s", name, r.code, code, r)
		}
		for _, w := range wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: the error lacks %q:\n%s", name, w, r.stderr)
			}
		}
	}
	to := f.newTarget(t)
	r := f.restoreInto(t, to, tsArg(inGap))
	t.Logf("refusal: %s", r.stderr)
	check("inside the gap", r, 1,
		"gap in the oplog from "+f.t.Time().Format(time.RFC3339), window, "nothing was written", "mongostash list")
	check("after the last entry", f.restoreInto(t, to, tsArg(optime.Timestamp{T: f.newest.T + 3600})), 1, "not restorable", window)
	check("before the base", f.restoreInto(t, to, tsArg(f.baseEnd.Prev())), 1, "no restorable base backup is consistent at or before", window)
	check("unreadable target", f.restoreInto(t, to, "yesterday"), 2, "RFC 3339")
	check("with --from", runCLI(t, f.b.env, "restore", "--to-time", tsArg(f.t), "--from", "x.archive"), 2, "leave out --from")
	check("with --oplog-limit", runCLI(t, f.b.env, "restore", "--to-time", tsArg(f.t), "--oplog-limit", tsArg(f.t)), 2, "give one")

	// latest is the end of the newest window: the first chain's end, since the chain after
	// the gap has no base backup yet.
	if r := f.restoreInto(t, to, "latest", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "target:      "+f.t.String()) {
		t.Errorf("restore --to-time latest --dry-run: want the target %s (the end of the only window): %s", f.t, r)
	}

	// A chunk of the first chain deleted by hand: a hole, named as one.
	victim := chain1[1]
	if err := f.store.Delete(context.Background(), victim, catalog.ManifestKey(victim)); err != nil {
		t.Fatal(err)
	}
	check("behind a hole", f.restoreInto(t, to, tsArg(f.t)), 1, "hole in the archived oplog", "nothing was written")
	if got := takeSnapshot(t, f.b.mongo.Client, to); len(got) != 0 {
		t.Errorf("refused restores wrote %d collections", len(got))
	}
}

// TestRestoreToTimeRefusesATamperedChunk: a chunk whose bytes changed after its manifest
// was written fails the restore. Without --drop every chunk is checked before anything is
// written, so the target stays empty; with --drop the damage shows during the replay into
// the temporary collections and the existing collections stay exactly as they were.
func TestRestoreToTimeRefusesATamperedChunk(t *testing.T) {
	f := newPITRFixture(t)
	if r := runCLI(t, f.b.env, "verify", "--oplog"); r.code != 1 || !strings.Contains(r.stderr, "nothing to verify") {
		t.Errorf("verify --oplog without chunks: %s", r)
	}
	keys := f.archive(t, f.baseEnd, f.newest, 37)
	r := runCLI(t, f.b.env, "verify", "--oplog")
	if r.code != 0 || strings.Count(r.stdout, "\tok\n")+strings.Count(r.stdout, " ok\n") != len(keys) {
		t.Fatalf("verify --oplog of %d sound chunks: %s", len(keys), r)
	}
	to := f.newTarget(t)
	if r := f.restoreInto(t, to, tsArg(f.t)); r.code != 0 {
		t.Fatal(r)
	}
	before := takeSnapshot(t, f.b.mongo.Client, to)

	ctx := context.Background()
	rc, err := f.store.Get(ctx, keys[2])
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if _, err := f.store.Put(ctx, keys[2], bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}

	// verify --oplog names the damaged chunk, checks the others and fails.
	r = runCLI(t, f.b.env, "verify", "--oplog")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of "+fmt.Sprint(len(keys))+" do not match their manifests") || !strings.Contains(r.stderr, keys[2]) ||
		!strings.Contains(r.stdout, keys[2]) || !strings.Contains(r.stdout, "DAMAGED") || strings.Count(r.stdout, " ok\n") != len(keys)-1 {
		t.Fatalf("verify --oplog with a tampered chunk: %s", r)
	}

	fresh := f.newTarget(t)
	tmp := t.TempDir() // where the chunks checked before the restore are kept: emptied on the refusal
	r = runCLI(t, f.b.env.with("TMPDIR", tmp), "restore", "--to-time", tsArg(f.newest), "--ns-from", f.b.mongo.DB+".*", "--ns-to", fresh+".*")
	t.Logf("refusal: %s", r.stderr)
	if r.code != 1 || !strings.Contains(r.stderr, "does not match its manifest") || !strings.Contains(r.stderr, keys[2]) || !strings.Contains(r.stderr, "nothing was written") {
		t.Fatalf("restore of a tampered chunk: %s", r)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the refused restore left %d files in the temporary directory", len(left))
	}
	if got := takeSnapshot(t, f.b.mongo.Client, fresh); len(got) != 0 {
		t.Errorf("the refused restore wrote %d collections", len(got))
	}
	r = f.restoreInto(t, to, tsArg(f.newest), "--drop")
	if r.code != 1 || !strings.Contains(r.stderr, "does not match its manifest") {
		t.Fatalf("restore --drop of a tampered chunk: %s", r)
	}
	compareSnapshots(t, takeSnapshot(t, f.b.mongo.Client, to), before)
}

// TestListRecoveryWindows: list shows the window the base backup opens, the chains and
// the recorded gap; list --windows --json gives the same as data.
func TestListRecoveryWindows(t *testing.T) {
	f := newPITRFixture(t)
	f.gapScenario(t)
	out := mustRun(t, f.b.env, "list").stdout
	for _, want := range []string{f.baseKey, "RECOVERY WINDOWS", "restorable to any second from " + f.baseEnd.Time().Format(time.RFC3339), "GAP: gap in the oplog"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	var rep windowsReport
	if err := json.Unmarshal([]byte(mustRun(t, f.b.env, "list", "--windows", "--json").stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Windows) != 1 || rep.Windows[0].From != f.baseEnd || rep.Windows[0].To != f.t || rep.Windows[0].Base != f.baseKey {
		t.Errorf("windows: %+v (want %s to %s from %s)", rep.Windows, f.baseEnd, f.t, f.baseKey)
	}
	if len(rep.Chains) != 2 || len(rep.Breaks) != 1 || rep.Breaks[0].After != f.t || rep.Breaks[0].GapMarker == "" {
		t.Errorf("chains %+v, breaks %+v", rep.Chains, rep.Breaks)
	}
	// list --json stays the array of backups that scripts read.
	var backups []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, f.b.env, "list", "--json").stdout), &backups); err != nil || len(backups) != 1 {
		t.Errorf("list --json: %v %v", backups, err)
	}
}

// TestPruneOplogChains: an old base backup with its chain, a gap, a newer chain holding a
// newer base backup. prune --keep-last 1 deletes the old backup, so the old chain (no kept
// base before the gap), the gap marker and the newer chain's chunks wholly before the new
// base go, with their manifests; the chunks from the new base on stay, and the target
// they reach is still restorable. --dry-run prints that plan with reasons and deletes
// nothing.
func TestPruneOplogChains(t *testing.T) {
	f := newPITRFixture(t)
	_, chain1 := f.gapScenario(t)
	mustRun(t, f.b.env, "backup")
	var list []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, f.b.env, "list", "--json").stdout), &list); err != nil || len(list) != 2 || list[0].Oplog == nil {
		t.Fatalf("list --json: %+v %v", list, err)
	}
	newBase, newEnd := list[0].Key, list[0].Oplog.End
	pitrWrites(t, f.b, "C", 100, 130)
	newest := newestTS(t, f.b.mongo.Client)
	f.archive(t, f.newest, newest, 40) // the second chain goes on
	// An upload in progress (a chunk without its manifest yet) and a manifest whose chunk
	// is gone (a prune that died between its two deletes).
	uploading := catalog.ChunkKey("", newest, optime.Timestamp{T: newest.T + 60}, stream.Zstd, stream.Unencrypted)
	if _, err := f.store.Put(context.Background(), uploading, strings.NewReader("partial")); err != nil {
		t.Fatal(err)
	}
	orphan := writeTestChunk(t, f.store, optime.Timestamp{T: f.baseEnd.T - 600}, optime.Timestamp{T: f.baseEnd.T - 500}, nil)
	if err := f.store.Delete(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	all := objectKeys(t, f.store)

	e := f.b.env.with("PRUNE_KEEP_LAST", "1", "S3_BACKUP_MAX_AGE", "1s", "PRUNE_MAX_STALENESS", "1h")
	var plan []planEntry
	if err := json.Unmarshal([]byte(mustRun(t, e, "prune", "--dry-run", "--json").stdout), &plan); err != nil {
		t.Fatal(err)
	}
	deleted := map[string][]string{}
	for _, p := range plan {
		if p.Action == "delete" {
			deleted[p.Key] = p.Reasons
		}
		if p.Key == uploading && (p.Action != "keep" || p.Kind != "oplog-chunk" || !strings.Contains(strings.Join(p.Reasons, ";"), "may be an upload in progress")) {
			t.Errorf("plan for the chunk being uploaded: %+v", p)
		}
	}
	for _, k := range chain1 {
		if !strings.Contains(strings.Join(deleted[k], ";"), "no kept base backup before the next gap") {
			t.Errorf("plan for %s of the old chain: %v", k, deleted[k])
		}
	}
	before := 0
	for _, reasons := range deleted {
		if strings.Contains(strings.Join(reasons, ";"), "before the oldest kept base backup of its chain") {
			before++
		}
	}
	if before == 0 || len(deleted) <= len(chain1)+1 {
		t.Errorf("the plan deletes %d objects, %d of them before the new base: %v", len(deleted), before, deleted)
	}
	if len(objectKeys(t, f.store)) != len(all) {
		t.Fatal("the dry run deleted objects")
	}

	mustRun(t, e, "prune")
	oc, err := catalog.ReadOplogCatalog(context.Background(), f.store, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(oc.Gaps) != 0 || len(oc.OrphanManifests) != 0 || len(oc.Incomplete()) != 1 || oc.Incomplete()[0].Key != uploading {
		t.Errorf("left: gaps %v, orphan manifests %v, incomplete %v (want only the upload in progress)", oc.Gaps, oc.OrphanManifests, oc.Incomplete())
	}
	cs := oc.BuildChains()
	if len(cs.Chains) != 1 || newEnd.Before(cs.Chains[0].Since) || cs.Chains[0].Until != newest {
		t.Fatalf("after prune: chains %+v (want one covering %s to %s)", cs.Chains, newEnd, newest)
	}
	for _, c := range oc.Chunks {
		if !c.Until.After(newEnd) {
			t.Errorf("chunk %s, wholly before the kept base, was kept", c.Key)
		}
		if deleted[c.Key] != nil {
			t.Errorf("chunk %s was planned for deletion and kept", c.Key)
		}
	}
	for _, k := range chain1 {
		if objectKeys(t, f.store)[catalog.ManifestKey(k)] {
			t.Errorf("the manifest of deleted chunk %s is left", k)
		}
	}
	to := f.newTarget(t)
	if r := f.restoreInto(t, to, tsArg(newest)); r.code != 0 {
		t.Fatalf("restore to the newest entry after prune: %s", r)
	}
	compareSnapshots(t, takeSnapshot(t, f.b.mongo.Client, to), takeSnapshot(t, f.b.mongo.Client, f.b.mongo.DB))
	if r := f.restoreInto(t, to, tsArg(f.t)); r.code != 1 {
		t.Errorf("a target only the deleted base reached: %s", r)
	}
	t.Logf("kept base %s; deleted %d chunks and markers", newBase, len(deleted))
}

// TestRestoreToTimeEncryptedChunks: chunks encrypted with age (gzip underneath) are read
// with the identity that decrypts encrypted backups; without it the restore is a usage
// error before anything is written.
func TestRestoreToTimeEncryptedChunks(t *testing.T) {
	f := newPITRFixture(t)
	k := newAgeKey(t)
	rs, err := stream.ParseRecipients(strings.NewReader(k.recipient + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.enc = stream.Encoding{Compression: stream.Gzip, Recipients: rs}
	f.archive(t, f.baseEnd, f.newest, 50)
	to := f.newTarget(t)
	r := f.restoreInto(t, to, tsArg(f.t))
	if r.code != 2 || !strings.Contains(r.stderr, "AGE_IDENTITY_FILE") || !strings.Contains(r.stderr, "nothing was written") {
		t.Fatalf("without the identity: %s", r)
	}
	if got := takeSnapshot(t, f.b.mongo.Client, to); len(got) != 0 {
		t.Errorf("the refused restore wrote %d collections", len(got))
	}
	f.b.env = f.b.env.with("AGE_IDENTITY_FILE", k.file)
	if r := f.restoreInto(t, to, tsArg(f.t)); r.code != 0 {
		t.Fatal(r)
	}
	compareSnapshots(t, takeSnapshot(t, f.b.mongo.Client, to), f.atT)
}

// TestRestoreToTimeFromABackupWithoutOplog: a base backup made without an oplog is taken as
// consistent a margin after it finished, and the replay starts a margin before it started,
// so the chunks' entries it already holds are replayed onto it too (every entry is
// idempotent); the result still equals the database at T.
func TestRestoreToTimeFromABackupWithoutOplog(t *testing.T) {
	f := newPITRFixtureOf(t, false)
	if !f.replayFrom.Before(f.baseEnd) {
		t.Fatalf("replay from %s, consistent at %s", f.replayFrom, f.baseEnd)
	}
	f.archive(t, f.replayFrom, f.newest, 45)
	to := f.newTarget(t)
	r := f.restoreInto(t, to, tsArg(f.t))
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf(`"chunk_entries":%d`, f.entriesT)) {
		t.Fatalf("restore --to-time onto a backup without an oplog: %s", r)
	}
	compareSnapshots(t, takeSnapshot(t, f.b.mongo.Client, to), f.atT)
}

// TestRestoreToTimeReadsChunksOnce: without --drop every planned chunk is checked before
// the restore writes anything — and kept in the temporary directory meanwhile, so that
// the replay reads it from there: each chunk is downloaded once (S3 requests counted by a
// proxy), the database equals the source at T, and nothing is left in the temporary
// directory.
func TestRestoreToTimeReadsChunksOnce(t *testing.T) {
	f := newPITRFixture(t)
	keys := f.archive(t, f.baseEnd, f.newest, 37)
	counter := testenv.CountRequests(t, f.b.bucket.Endpoint)
	tmp := t.TempDir()
	to := f.newTarget(t)
	e := f.b.env.with("S3_ENDPOINT", counter.URL, "TMPDIR", tmp)
	r := runCLI(t, e, "restore", "--to-time", tsArg(f.t), "--ns-from", f.b.mongo.DB+".*", "--ns-to", to+".*")
	if r.code != 0 {
		t.Fatalf("restore --to-time: %s", r)
	}
	compareSnapshots(t, takeSnapshot(t, f.b.mongo.Client, to), f.atT)
	paths := counter.Paths()
	read := 0
	for _, k := range keys {
		n := paths["GET /"+f.b.bucket.Name+"/"+k]
		if n > 1 {
			t.Errorf("chunk %s downloaded %d times", k, n)
		}
		read += int(n)
	}
	if read == 0 || !strings.Contains(r.stderr, `"kept_on_disk":`) {
		t.Errorf("no planned chunk read (%d), or no kept_on_disk in the log:\n%s", read, r.stderr)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in the temporary directory: %v", left)
	}
}
