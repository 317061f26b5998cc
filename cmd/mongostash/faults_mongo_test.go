package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/internal/sample"
)

// TestFaultSilentMongo: a MongoDB address that accepts connections and never answers fails
// backup and restore within MONGO_TIMEOUT, naming the host.
func TestFaultSilentMongo(t *testing.T) {
	b := newBed(t)
	addr := silentListener(t)
	e := b.env.with("MONGO_URL", "mongodb://"+addr+"/", "MONGO_TIMEOUT", "2s")
	for _, cmd := range []string{"backup", "restore"} {
		r := startBin(t, e, cmd).wait(2 * time.Minute)
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach MongoDB at "+addr) {
			t.Errorf("%s: want exit 1 naming %s, got %s", cmd, addr, r)
		}
	}
}

// mongoProxy puts an in-process Toxiproxy between mongostash and the test bed's MongoDB,
// and returns a MONGO_URL through it (with quick heartbeats) and the proxy.
func mongoProxy(t *testing.T, b *bed) (string, *toxiproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(b.mongo.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "mongo", "127.0.0.1:0", u.Host)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return "mongodb://" + p.Listen + "/?heartbeatFrequencyMS=500", p
}

// stallMongo makes the proxy hold every byte from the server from now on, connections
// open: a server that stopped answering.
func stallMongo(t *testing.T, p *toxiproxy.Proxy) {
	t.Helper()
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(`{"type":"timeout","stream":"downstream","attributes":{"timeout":0}}`)); err != nil {
		t.Fatal(err)
	}
}

// TestFaultMongoStallsDuringBackup: a server that stops answering while its collections are
// read fails the backup in seconds (two missed heartbeats), storing nothing.
func TestFaultMongoStallsDuringBackup(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 40000); err != nil {
		t.Fatal(err)
	}
	proxied, p := mongoProxy(t, b)
	bk := startBin(t, b.env.with("MONGO_URL", proxied, "MONGO_TIMEOUT", "2s", "BACKUP_COMPRESSION", "none"), "backup", "--parallel", "1")
	if !bk.waitLog(`"msg":"dumping"`, time.Minute) {
		t.Fatalf("the backup never started dumping:\n%s", bk.log())
	}
	stallMongo(t, p)
	r := bk.wait(2 * time.Minute)
	if r.code != 1 || !strings.Contains(r.stderr, "nothing was stored") || !strings.Contains(r.stderr, mongoLostHint) {
		t.Fatalf("want exit 1, nothing stored, the connection said lost; got %s", r)
	}
	if keys := listKeys(t, b); len(keys) != 0 {
		t.Errorf("objects left: %v", keys)
	}
	t.Logf("error: %s", errorLine(r.stderr))
}

// TestFaultMongoStallsDuringRestore: a server that stops answering while documents are
// inserted fails the restore in seconds, saying how many documents went in.
func TestFaultMongoStallsDuringRestore(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 40000); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env, "backup")
	proxied, p := mongoProxy(t, b)
	target := b.mongo.DB + "_copy"
	defer b.mongo.Client.Database(target).Drop(context.Background())
	rs := startBin(t, b.env.with("MONGO_URL", proxied, "MONGO_TIMEOUT", "2s"), "restore", "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*")
	if !rs.waitLog(`"msg":"restore started"`, time.Minute) {
		t.Fatalf("the restore never started:\n%s", rs.log())
	}
	time.Sleep(300 * time.Millisecond)
	stallMongo(t, p)
	stalled := time.Now()
	r := rs.wait(2 * time.Minute)
	t.Logf("exited %s after the stall began", time.Since(stalled).Round(time.Millisecond))
	if r.code != 1 || !strings.Contains(r.stderr, mongoLostHint) {
		t.Fatalf("want exit 1 with the connection said lost; got %s", r)
	}
	t.Logf("error: %s", errorLine(r.stderr))
}

var insertedRe = regexp.MustCompile(`(\d+) documents had already been inserted and stay(?:, and up to (\d+) more)?`)

// insertedSaid is the count of documents a failed restore without --drop says it left,
// and how many more it says may have gone in (inserts that got no answer).
func insertedSaid(t *testing.T, stderr string) (n, unsure int64) {
	t.Helper()
	m := insertedRe.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("the message does not say how many documents were inserted:\n%s", stderr)
	}
	n, _ = strconv.ParseInt(m[1], 10, 64)
	unsure, _ = strconv.ParseInt(m[2], 10, 64)
	return n, unsure
}

func countAll(t *testing.T, client *mongo.Client, db string) int64 {
	t.Helper()
	ctx := context.Background()
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range names {
		k, err := client.Database(db).Collection(c).CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		n += k
	}
	return n
}

// TestFaultSignalDuringRestore: SIGTERM or SIGINT during a restore without --drop exits 1,
// and the message says how many documents were inserted — exactly as many as the database
// then holds.
func TestFaultSignalDuringRestore(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 40000); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env, "backup")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			target := fmt.Sprintf("%s_%d", b.mongo.DB, sig)
			defer b.mongo.Client.Database(target).Drop(context.Background())
			rs := startBin(t, b.env, "restore", "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*", "--insertion-workers", "1")
			if !rs.waitLog(`"msg":"restore started"`, time.Minute) {
				t.Fatalf("the restore never started:\n%s", rs.log())
			}
			time.Sleep(500 * time.Millisecond)
			if err := rs.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			r := rs.wait(2 * time.Minute)
			if r.code != 1 || strings.Contains(r.stderr, "restore complete") {
				t.Fatalf("want exit 1 for an interrupted restore, got %s", r)
			}
			said, unsure := insertedSaid(t, r.stderr)
			if got := countAll(t, b.mongo.Client, target); got != said || said == 0 || unsure != 0 {
				t.Errorf("the message says %d documents were inserted (and %d maybe), the database holds %d", said, unsure, got)
			}
			t.Logf("error: %s", errorLine(r.stderr))
		})
	}
}

// killMongoDuringRestore starts a restore with args, kills the private MongoDB once the
// documents are going in, starts it again and returns the restore's result.
func killMongoDuringRestore(t *testing.T, b *bed, fdb interface {
	Kill()
	Start()
}, args ...string) result {
	t.Helper()
	rs := startBin(t, b.env, append([]string{"restore"}, args...)...)
	if !rs.waitLog(`"msg":"restore started"`, time.Minute) {
		t.Fatalf("the restore never started:\n%s", rs.log())
	}
	time.Sleep(500 * time.Millisecond)
	fdb.Kill()
	r := rs.wait(3 * time.Minute)
	fdb.Start()
	if r.code != 1 || strings.Contains(r.stderr, "restore complete") {
		t.Fatalf("want the restore to fail when MongoDB is killed, got %s", r)
	}
	t.Logf("error: %s", errorLine(r.stderr))
	return r
}

// noTemporaries fails when a restore's temporary collection is in db.
func noTemporaries(t *testing.T, client *mongo.Client, db string) {
	t.Helper()
	names, err := client.Database(db).ListCollectionNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if dump.IsTemporary(n) || dump.IsAside(n) {
			t.Errorf("%s.%s left", db, n)
		}
	}
}

// TestFaultMongoKilledDuringRestoreDrop: MongoDB killed in the middle of a restore --drop
// (and back afterwards): the restore fails saying nothing was replaced and naming the
// restored copies it could not drop; a second restore --drop drops them, says so, and
// restores the backup exactly.
func TestFaultMongoKilledDuringRestoreDrop(t *testing.T) {
	b, fdb, m := privateMongoBed(t)
	if _, err := sample.Load(context.Background(), m.Client, m.DB, 40000); err != nil {
		t.Fatal(err)
	}
	want := takeSnapshot(t, m.Client, m.DB)
	mustRun(t, b.env, "backup")
	// Change the data after the backup: one collection gone, one with a document more.
	if err := m.Client.Database(m.DB).Collection("orders").Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Client.Database(m.DB).Collection("users").InsertOne(context.Background(), bson.D{{Key: "_id", Value: "after"}}); err != nil {
		t.Fatal(err)
	}
	// The dotted audit.log is left out: FerretDB cannot rename it (see TestFaultDottedRefused).
	args := []string{"--drop", "--ns-exclude", "*.audit.log"}
	r := killMongoDuringRestore(t, b, fdb, args...)
	if !strings.Contains(r.stderr, "nothing was replaced: existing collections are unchanged") || !strings.Contains(r.stderr, "."+dump.TemporaryPrefix) {
		t.Fatalf("want 'nothing was replaced' and the restored copies named, got %s", r)
	}
	r = mustRun(t, b.env, append([]string{"restore"}, args...)...)
	if !strings.Contains(r.stderr, "dropped the temporary collections of an earlier interrupted restore") {
		t.Errorf("the second restore does not say it dropped the leftovers:\n%s", r.stderr)
	}
	noTemporaries(t, m.Client, m.DB)
	compareSnapshots(t, takeSnapshot(t, m.Client, m.DB), want)
}

// TestFaultMongoKilledDuringRestoreAppend: MongoDB killed in the middle of a restore
// without --drop (into an empty database): the restore fails saying how many documents
// went in, and how many more may have (inserts whose answer the kill cut off) — and the
// database holds that many once it is back; a second restore with --drop then restores
// the backup exactly.
func TestFaultMongoKilledDuringRestoreAppend(t *testing.T) {
	b, fdb, m := privateMongoBed(t)
	if _, err := sample.Load(context.Background(), m.Client, m.DB, 40000); err != nil {
		t.Fatal(err)
	}
	want := takeSnapshot(t, m.Client, m.DB)
	mustRun(t, b.env, "backup")
	if err := m.Client.Database(m.DB).Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := killMongoDuringRestore(t, b, fdb, "--ns-exclude", "*.audit.log")
	said, unsure := insertedSaid(t, r.stderr)
	if got := countAll(t, m.Client, m.DB); got < said || got > said+unsure {
		t.Errorf("the message says %d documents were inserted and up to %d more may have been, the database holds %d", said, unsure, got)
	}
	mustRun(t, b.env, "restore", "--drop", "--ns-exclude", "*.audit.log")
	delete(want, "audit.log")
	noTemporaries(t, m.Client, m.DB)
	compareSnapshots(t, takeSnapshot(t, m.Client, m.DB), want)
}

// TestFaultDottedRefused: the first case as an operator meets it — restore --drop
// over an existing copy with a dotted collection name on a server that cannot rename it —
// is refused before anything is written, naming the collection, the reason and what to do.
func TestFaultDottedRefused(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 1200); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env, "backup")
	if _, err := b.mongo.Client.Database(b.mongo.DB).Collection("users").InsertOne(context.Background(), bson.D{{Key: "_id", Value: "after"}}); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, b.mongo.Client, b.mongo.DB)
	r := runCLI(t, b.env, "restore", "--drop")
	for _, want := range []string{b.mongo.DB + ".audit.log", "cannot rename collections whose names contain a dot", "nothing was written", "--ns-exclude"} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("want exit 1 saying %q, got %s", want, r)
		}
	}
	compareSnapshots(t, takeSnapshot(t, b.mongo.Client, b.mongo.DB), before)
}
