package dump

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Run(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rawDocs returns a collection's documents in _id order, as raw bytes.
func rawDocs(t *testing.T, c *mongo.Collection) []bson.Raw {
	t.Helper()
	cur, err := c.Find(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	for cur.Next(ctxT(t)) {
		out = append(out, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		return bytes.Compare(out[i].Lookup("_id").Value, out[j].Lookup("_id").Value) < 0
	})
	return out
}

func dumpToBuffer(t *testing.T, client *mongo.Client, opts DumpOptions) ([]byte, DumpStats) {
	t.Helper()
	var buf bytes.Buffer
	stats, err := Dump(ctxT(t), client, &buf, opts)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return buf.Bytes(), stats
}

// TestDumpRestoreEveryType dumps the sample data (every BSON type FerretDB stores, capped,
// unique and compound indexes, an empty collection, a dotted name) plus a document just
// under the 16 MiB limit, checks the archive, restores it elsewhere and compares bytes.
func TestDumpRestoreEveryType(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	counts, err := sample.Load(ctx, m.Client, m.DB, 2000)
	if err != nil {
		t.Fatal(err)
	}
	big := bson.D{{Key: "_id", Value: "big"}, {Key: "blob", Value: bson.Binary{Data: bytes.Repeat([]byte{0xAB}, 16*1024*1024-100)}}}
	if _, err := m.Client.Database(m.DB).Collection("big").InsertOne(ctx, big); err != nil {
		t.Fatal(err)
	}
	counts["big"] = 1

	data, stats := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, ToolVersion: "test"})
	vs, err := Verify(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("verify own archive: %v", err)
	}
	if vs.Documents != stats.Documents {
		t.Errorf("archive holds %d documents, dump reported %d", vs.Documents, stats.Documents)
	}
	for coll, n := range counts {
		found := false
		for _, s := range stats.Namespaces {
			if s.Namespace == m.DB+"."+coll {
				found = true
				if s.Documents != n {
					t.Errorf("%s: dumped %d, want %d", coll, s.Documents, n)
				}
			}
		}
		if !found {
			t.Errorf("%s not dumped", coll)
		}
	}

	target := testenv.UniqueName("r")
	t.Cleanup(func() { _ = m.Client.Database(target).Drop(context.Background()) })
	rn, err := ns.NewRenamer([]string{m.DB + ".*"}, []string{target + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	rstats, err := Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if rstats.Inserted != stats.Documents || rstats.Failed != 0 {
		t.Errorf("restored %d (failed %d), want %d", rstats.Inserted, rstats.Failed, stats.Documents)
	}
	for coll := range counts {
		got := rawDocs(t, m.Client.Database(target).Collection(coll))
		want := rawDocs(t, m.Client.Database(m.DB).Collection(coll))
		if len(got) != len(want) {
			t.Errorf("%s: %d documents, want %d", coll, len(got), len(want))
			continue
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: document %d differs", coll, i)
				break
			}
		}
	}
}

// TestDumpSeveralDatabasesAndFilters: two databases in one archive; include and exclude
// patterns with mongodump's wildcard rules.
func TestDumpSeveralDatabasesAndFilters(t *testing.T) {
	a, b := testenv.NewMongo(t), testenv.NewMongo(t)
	ctx := ctxT(t)
	for _, m := range []*testenv.Mongo{a, b} {
		if _, err := sample.Load(ctx, m.Client, m.DB, 400); err != nil {
			t.Fatal(err)
		}
	}
	names := func(stats DumpStats) string {
		var out []string
		for _, s := range stats.Namespaces {
			out = append(out, s.Namespace)
		}
		return strings.Join(out, ",")
	}
	sorted := func(s string) string {
		parts := strings.Split(s, ",")
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	_, all := dumpToBuffer(t, a.Client, DumpOptions{Databases: []string{a.DB, b.DB}})
	want := strings.Join([]string{a.DB + ".audit.log", a.DB + ".empty", a.DB + ".events", a.DB + ".orders", a.DB + ".users",
		b.DB + ".audit.log", b.DB + ".empty", b.DB + ".events", b.DB + ".orders", b.DB + ".users"}, ",")
	if got, want := names(all), sorted(want); got != want {
		t.Errorf("both databases:\ngot  %s\nwant %s", got, want)
	}
	f, err := ns.NewMatcher([]string{a.DB + ".*", "*.orders"}, []string{"*.audit.log", "*.e*"})
	if err != nil {
		t.Fatal(err)
	}
	_, filtered := dumpToBuffer(t, a.Client, DumpOptions{Databases: []string{a.DB, b.DB}, Filter: f})
	want = strings.Join([]string{a.DB + ".orders", a.DB + ".users", b.DB + ".orders"}, ",")
	if got, want := names(filtered), sorted(want); got != want {
		t.Errorf("filtered:\ngot  %s\nwant %s", got, want)
	}
}

// TestDumpEmpty: a database without collections is an error unless allowed.
func TestDumpEmpty(t *testing.T) {
	m := testenv.NewMongo(t)
	var buf bytes.Buffer
	if _, err := Dump(ctxT(t), m.Client, &buf, DumpOptions{Databases: []string{m.DB}}); !errors.Is(err, ErrNothingToDump) {
		t.Fatalf("got %v, want ErrNothingToDump", err)
	}
	buf.Reset()
	if _, err := Dump(ctxT(t), m.Client, &buf, DumpOptions{Databases: []string{m.DB}, AllowEmpty: true}); err != nil {
		t.Fatalf("allow empty: %v", err)
	}
	r := archive.NewReader(&buf)
	p, err := r.Prelude()
	if err != nil || len(p.Entries) != 0 {
		t.Fatalf("empty archive: %v %v", p, err)
	}
}

// TestDumpCancelled: cancelling midway returns the cancellation, not a short archive.
func TestDumpCancelled(t *testing.T) {
	m := testenv.NewMongo(t)
	if _, err := sample.Load(ctxT(t), m.Client, m.DB, 5000); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &Progress{}
	go func() {
		for progress.Documents.Load() < 200 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	var buf bytes.Buffer
	stats, err := Dump(ctx, m.Client, &buf, DumpOptions{Databases: []string{m.DB}, Progress: progress})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v (stats %+v), want context.Canceled", err, stats)
	}
}

// TestRestoreCancelledKeepsData: a --drop restore cancelled midway leaves the existing
// collections exactly as they were and no temporary collections behind.
func TestRestoreCancelledKeepsData(t *testing.T) {
	m := testenv.NewMongo(t)
	if _, err := sample.Load(ctxT(t), m.Client, m.DB, 4000); err != nil {
		t.Fatal(err)
	}
	data, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}})
	users := m.Client.Database(m.DB).Collection("users")
	if _, err := users.InsertOne(ctxT(t), bson.D{{Key: "_id", Value: "after-backup"}}); err != nil {
		t.Fatal(err)
	}
	before := map[string][]bson.Raw{}
	names, err := m.Client.Database(m.DB).ListCollectionNames(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		before[n] = rawDocs(t, m.Client.Database(m.DB).Collection(n))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &Progress{}
	go func() {
		for progress.Documents.Load() < 1000 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	// The dotted audit.log is left out: FerretDB cannot rename it, so the pre-flight would
	// refuse the whole restore before it could be cancelled.
	_, err = Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{Drop: true, Progress: progress, BatchDocs: 100, Filter: undotted(t)})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "existing collections are unchanged") {
		t.Fatalf("got %v, want a cancellation that replaced nothing", err)
	}
	after, err := m.Client.Database(m.DB).ListCollectionNames(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(after)
	sort.Strings(names)
	if strings.Join(after, ",") != strings.Join(names, ",") {
		t.Fatalf("collections after: %v, before: %v", after, names)
	}
	for n, want := range before {
		got := rawDocs(t, m.Client.Database(m.DB).Collection(n))
		if len(got) != len(want) {
			t.Errorf("%s: %d documents, had %d", n, len(got), len(want))
			continue
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: document %d changed", n, i)
				break
			}
		}
	}
}
