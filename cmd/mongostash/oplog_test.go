package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
)

// newOplogBed is newBed on a server that logs its writes: a FerretDB v1 of the test's own
// with a capped local.oplog.rs (testenv.NewMongoWithOplog). FerretDB v1 is the only test
// server that writes an oplog (FerretDB v2 does not), so these tests use it even when
// MONGOSTASH_TEST_MONGO_URL points the others elsewhere.
func newOplogBed(t *testing.T) *bed {
	t.Helper()
	m := testenv.NewMongoWithOplog(t)
	b := newBed(t)
	b.mongo = m
	b.env = b.env.with("MONGO_URL", m.URL, "MONGO_DATABASE", m.DB)
	return b
}

func newestTS(t *testing.T, client *mongo.Client) optime.Timestamp {
	t.Helper()
	src, err := oplog.OpenSource(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := src.Newest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestBackupWithOplogRestoresTheConsistentPoint is the feature end to end: a writer
// changes three collections all through `backup --oplog=true`; `list` and `verify` show
// the consistent point; `restore` (replay on by default) into another database gives
// exactly the source at that point: every document of the written collections as it was
// then, every other collection as it is, with their options and indexes.
func TestBackupWithOplogRestoresTheConsistentPoint(t *testing.T) {
	b := newOplogBed(t)
	ctx := context.Background()
	if _, err := sample.Load(ctx, b.mongo.Client, b.mongo.DB, 1500); err != nil {
		t.Fatal(err)
	}
	written := []string{"w1", "w2", "w3"}
	initial, err := sample.PrepareWriterCollections(ctx, b.mongo.Client, b.mongo.DB, written...)
	if err != nil {
		t.Fatal(err)
	}
	setup := bson.Timestamp(newestTS(t, b.mongo.Client)) // the writer speaks the driver's type
	w := sample.StartWriter(b.mongo.Client, b.mongo.DB, written...)
	if err := w.WaitChanges(20); err != nil {
		t.Fatal(err)
	}
	e := b.env.with("BACKUP_OPLOG", "true")
	r := mustRun(t, e, "backup")
	if err := w.WaitChanges(20); err != nil {
		t.Fatal(err)
	}
	if err := w.Halt(ctx, setup); err != nil {
		t.Fatal(err)
	}

	var list []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, e, "list", "--json").stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --json: %v %v", list, err)
	}
	o := list[0].Oplog
	if o == nil || list[0].ConsistentAt == nil || o.Entries == 0 || !list[0].ConsistentAt.Equal(o.End.Time()) {
		t.Fatalf("list: %+v", list[0])
	}
	at := list[0].ConsistentAt.Format(time.RFC3339)
	if out := mustRun(t, e, "list").stdout; !strings.Contains(out, "consistent at "+at) {
		t.Errorf("list table lacks the consistent point %s:\n%s", at, out)
	}
	if out := mustRun(t, e, "verify", "latest").stdout; !strings.Contains(out, "consistent at "+at) {
		t.Errorf("verify lacks the consistent point:\n%s", out)
	}
	if !strings.Contains(r.stderr, `"consistent_at"`) {
		t.Errorf("backup log lacks consistent_at:\n%s", r.stderr)
	}
	want, upToEnd := w.StateAt(initial, bson.Timestamp(o.End))
	_, upToStart := w.StateAt(initial, bson.Timestamp(o.Start))
	if upToEnd-upToStart < 5 || w.Changes() == upToEnd {
		t.Fatalf("writer changes: %d before the start, %d before the end, %d in all: no overlap with the backup", upToStart, upToEnd, w.Changes())
	}

	target := testenv.UniqueName("r")
	t.Cleanup(func() { _ = b.mongo.Client.Database(target).Drop(context.Background()) })
	rr := mustRun(t, e, "restore", "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*")
	if !strings.Contains(rr.stderr, `"oplog_entries"`) {
		t.Errorf("restore log does not report the replay:\n%s", rr.stderr)
	}
	got, exp := takeSnapshot(t, b.mongo.Client, target), takeSnapshot(t, b.mongo.Client, b.mongo.DB)
	for _, c := range written {
		cs := exp[c]
		cs.docs = sortedByID(want[c])
		exp[c] = cs
	}
	compareSnapshots(t, got, exp)
	t.Logf("writer changes: %d before the backup's start, %d during it, %d after its end", upToStart, upToEnd-upToStart, w.Changes()-upToEnd)
}

func sortedByID(m map[int32]bson.Raw) []bson.Raw {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	out := make([]bson.Raw, len(ids))
	for i, id := range ids {
		out[i] = m[int32(id)]
	}
	return out
}

// TestBackupOplogOverflowStoresNothing: the oplog no longer holds where the backup must
// start — here a transaction open since before the oplog's oldest entry, which the capture
// must include from its start (the dump package's TestDumpOplogOverflow deletes entries
// in the middle of a dump instead): the backup fails, says what to do, stores nothing.
func TestBackupOplogOverflowStoresNothing(t *testing.T) {
	b := newOplogBed(t)
	ctx := context.Background()
	if _, err := sample.Load(ctx, b.mongo.Client, b.mongo.DB, 500); err != nil {
		t.Fatal(err)
	}
	txns := b.mongo.Client.Database("config").Collection("transactions")
	open := bson.D{{Key: "_id", Value: testenv.UniqueName("txn")}, {Key: "state", Value: "inProgress"},
		{Key: "startOpTime", Value: bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "t", Value: int64(1)}}}}
	if _, err := txns.InsertOne(ctx, open); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = txns.DeleteOne(context.Background(), bson.D{{Key: "_id", Value: open[0].Value}}) })
	r := runCLI(t, b.env.with("BACKUP_OPLOG", "true"), "backup")
	if r.code == 0 || !strings.Contains(r.stderr, "oplog rolled over") || !strings.Contains(r.stderr, "1,1 (1970-01-01T00:00:01Z)") ||
		!strings.Contains(r.stderr, "Make the oplog larger") || !strings.Contains(r.stderr, "nothing was stored") {
		t.Fatalf("backup whose start the oplog no longer holds: %s", r)
	}
	if keys := listKeys(t, b); len(keys) != 0 {
		t.Errorf("objects left: %v", keys)
	}
}

// TestBackupOplogModes: --oplog=auto on a server that is not a replica-set member (FerretDB
// v1 reports none) backs up without an oplog and says so; --oplog=true without a readable
// oplog fails before anything is stored, with the hint; --oplog-replay=true refuses a
// backup without an oplog.
func TestBackupOplogModes(t *testing.T) {
	b := newBed(t)
	if _, err := b.mongo.Client.Database(b.mongo.DB).Collection("c").InsertOne(context.Background(), bson.D{}); err != nil {
		t.Fatal(err)
	}
	_ = b.mongo.Client.Database("local").Collection("oplog.rs").Drop(context.Background())
	r := runCLI(t, b.env.with("BACKUP_OPLOG", "true"), "backup")
	if r.code == 0 || !strings.Contains(r.stderr, "no readable oplog") || !strings.Contains(r.stderr, "--oplog=auto") {
		t.Errorf("--oplog=true without an oplog: %s", r)
	}
	if keys := listKeys(t, b); len(keys) != 0 {
		t.Errorf("objects left: %v", keys)
	}
	r = mustRun(t, b.env, "backup")
	if !strings.Contains(r.stderr, "backup without an oplog: the server is not a replica-set member") {
		t.Errorf("auto did not say why there is no oplog:\n%s", r.stderr)
	}
	var list []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, b.env, "list", "--json").stdout), &list); err != nil || len(list) != 1 || list[0].Oplog != nil {
		t.Errorf("list: %+v %v", list, err)
	}
	target := testenv.UniqueName("r")
	r = runCLI(t, b.env, "restore", "--oplog-replay=true", "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*")
	if r.code == 0 || !strings.Contains(r.stderr, "no oplog to replay") {
		t.Errorf("--oplog-replay=true without an oplog: %s", r)
	}
	r = runCLI(t, b.env, "restore", "--oplog-limit", "yesterday")
	if r.code != 2 || !strings.Contains(r.stderr, "--oplog-limit") {
		t.Errorf("bad --oplog-limit: %s", r)
	}
}

// TestStockToolsReadOurOplog: stock mongorestore accepts our archive's oplog namespace
// (--oplogReplay --dryRun finds it in the prelude; a full restore reads its blocks and
// their CRC and restores the collections), and bsondump reads its entries. The replay
// itself needs applyOps, which no test-bed server has.
func TestStockToolsReadOurOplog(t *testing.T) {
	mongorestore, bsondump := testenv.StockTool(t, "mongorestore", "the stock-tool check of the oplog namespace"), testenv.StockTool(t, "bsondump", "the stock-tool check of the oplog namespace")
	b := newOplogBed(t)
	ctx := context.Background()
	if _, err := sample.Load(ctx, b.mongo.Client, b.mongo.DB, 300); err != nil {
		t.Fatal(err)
	}
	if _, err := sample.PrepareWriterCollections(ctx, b.mongo.Client, b.mongo.DB, "w"); err != nil {
		t.Fatal(err)
	}
	w := sample.StartWriter(b.mongo.Client, b.mongo.DB, "w")
	mustRun(t, b.env.with("BACKUP_OPLOG", "true", "BACKUP_COMPRESSION", "none"), "backup")
	_ = w.Halt(ctx, bson.Timestamp{})
	keys := listKeys(t, b)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.archive")
	obj, err := b.bucket.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(keys[0])})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || os.WriteFile(file, data, 0o600) != nil {
		t.Fatal(err)
	}
	tool := func(bin string, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := tool(mongorestore, "--uri="+b.mongo.URL, "--archive="+file, "--oplogReplay", "--dryRun", "-v")
	if !strings.Contains(out, "oplog") {
		t.Errorf("mongorestore --dryRun does not mention the oplog:\n%s", out)
	}
	target := testenv.UniqueName("stock")
	t.Cleanup(func() { _ = b.mongo.Client.Database(target).Drop(context.Background()) })
	// (--noIndexRestore: mongorestore's createIndexes carries an "ns" option FerretDB v1 refuses.)
	tool(mongorestore, "--uri="+b.mongo.URL, "--archive="+file, "--noIndexRestore", "--nsFrom="+b.mongo.DB+".*", "--nsTo="+target+".*")
	if n, err := b.mongo.Client.Database(target).Collection("orders").CountDocuments(ctx, bson.D{}); err != nil || n == 0 {
		t.Errorf("stock restore of our archive: %d orders, %v", n, err)
	}
	// The oplog entries, as a .bson file for bsondump.
	ar := archive.NewReader(bytes.NewReader(data))
	if _, err := ar.Prelude(); err != nil {
		t.Fatal(err)
	}
	var entries bytes.Buffer
	n := 0
	for {
		rec, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.DB == "" && rec.Doc != nil {
			entries.Write(rec.Doc)
			n++
		}
	}
	oplogFile := filepath.Join(dir, "oplog.bson")
	if err := os.WriteFile(oplogFile, entries.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out = tool(bsondump, "--objcheck", oplogFile)
	if got := strings.Count(out, `"op":`); n == 0 || got != n {
		t.Errorf("bsondump printed %d entries, the archive's oplog holds %d:\n%s", got, n, out)
	}
}
