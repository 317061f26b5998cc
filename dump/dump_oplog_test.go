package dump

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
)

func sortedDocs(m map[int32]bson.Raw) []bson.Raw {
	var out []bson.Raw
	for _, d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Lookup("_id").Value, out[j].Lookup("_id").Value) < 0 })
	return out
}

// collectionShape is a collection's options and indexes (without the fields that name
// the namespace), for comparing a restore with its source.
func collectionShape(t *testing.T, db *mongo.Database, coll string) string {
	t.Helper()
	specs, err := db.ListCollectionSpecifications(ctxT(t), bson.D{{Key: "name", Value: coll}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("list %s: %v %v", coll, specs, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "options %s\n", specs[0].Options)
	cur, err := db.Collection(coll).Indexes().List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var idx []string
	for cur.Next(ctxT(t)) {
		var d bson.D
		for _, el := range mustElements(cur.Current) {
			if el.Key() != "ns" {
				d = append(d, bson.E{Key: el.Key(), Value: el.Value()})
			}
		}
		idx = append(idx, fmt.Sprint(d))
	}
	sort.Strings(idx)
	fmt.Fprintf(&b, "indexes %s", strings.Join(idx, "; "))
	return b.String()
}

func mustElements(d bson.Raw) []bson.RawElement {
	e, _ := d.Elements()
	return e
}

// TestDumpRestoreWithOplogIsConsistent: a writer changes three collections (with a
// unique index) all through a backup with the oplog; the backup restored elsewhere with
// its oplog replayed equals, document for document, the source at the backup's
// consistent point (the oplog's end), with the same options and indexes; the sample
// collections beside them (every BSON type, capped, dotted name) come back exactly too.
func TestDumpRestoreWithOplogIsConsistent(t *testing.T) {
	checkOplogConsistency(t, func(db string) DumpOptions {
		return DumpOptions{Databases: []string{db}, Oplog: true, Parallel: 2, ToolVersion: "test"}
	}, nil)
}

// TestSplitDumpWithOplogIsConsistent is TestDumpRestoreWithOplogIsConsistent with every
// collection read as ranges at once, the written ones included: every range's read starts
// after the oplog's start, so the replay brings each to the end point all the same.
func TestSplitDumpWithOplogIsConsistent(t *testing.T) {
	logs := &logLines{}
	checkOplogConsistency(t, func(db string) DumpOptions {
		opts := splitOpts(db, logs)
		opts.Oplog = true
		return opts
	}, func(db string) { assertSplit(t, logs, db, "w1", "w2", "w3", "orders") })
}

// checkOplogConsistency runs the consistency test with the dump options of optsFor, then
// calls after (when set) with the source database.
func checkOplogConsistency(t *testing.T, optsFor func(db string) DumpOptions, after func(db string)) {
	m := testenv.NewMongoWithOplog(t)
	ctx := ctxT(t)
	counts, err := sample.Load(ctx, m.Client, m.DB, 3000)
	if err != nil {
		t.Fatal(err)
	}
	src := m.Client.Database(m.DB)
	written := []string{"w1", "w2", "w3"}
	initial, err := sample.PrepareWriterCollections(ctx, m.Client, m.DB, written...)
	if err != nil {
		t.Fatal(err)
	}
	setup, _, err := newestOplogEntry(ctx, m.Client)
	if err != nil {
		t.Fatal(err)
	}
	w := sample.StartWriter(m.Client, m.DB, written...)
	if err := w.WaitChanges(20); err != nil {
		t.Fatal(err)
	}
	data, stats := dumpToBuffer(t, m.Client, optsFor(m.DB))
	if after != nil {
		after(m.DB)
	}
	if err := w.WaitChanges(20); err != nil { // changes after the end, which the restore must not show
		t.Fatal(err)
	}
	if err := w.Halt(ctx, setup); err != nil {
		t.Fatal(err)
	}
	if stats.Oplog == nil || stats.Oplog.Entries == 0 {
		t.Fatalf("no oplog captured: %+v", stats.Oplog)
	}
	// The model is right: after its last change it is the source as it is now.
	final := w.Final(initial)
	for _, c := range written {
		if !equalRaw(rawDocs(t, src.Collection(c)), sortedDocs(final[c])) {
			t.Fatalf("model of %s disagrees with the source", c)
		}
	}
	want, upToEnd := w.StateAt(initial, bson.Timestamp(stats.Oplog.End))
	_, upToStart := w.StateAt(initial, bson.Timestamp(stats.Oplog.Start))
	if upToEnd-upToStart < 10 || w.Changes() == upToEnd {
		t.Fatalf("changes: %d before the start, %d before the end, %d in all: the writer did not overlap the backup", upToStart, upToEnd, w.Changes())
	}
	target := testenv.UniqueName("r")
	t.Cleanup(func() { _ = m.Client.Database(target).Drop(context.Background()) })
	rn, err := ns.NewRenamer([]string{m.DB + ".*"}, []string{target + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	rstats, err := Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn, OplogReplay: true, OplogRequired: true})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	dst := m.Client.Database(target)
	for _, c := range written {
		got, exp := rawDocs(t, dst.Collection(c)), sortedDocs(want[c])
		if !equalRaw(got, exp) {
			t.Errorf("%s: %d documents, want the %d of the consistent point", c, len(got), len(exp))
		}
	}
	for c := range counts {
		if !equalRaw(rawDocs(t, dst.Collection(c)), rawDocs(t, src.Collection(c))) {
			t.Errorf("%s differs", c)
		}
	}
	for _, c := range append(written, "orders", "users", "events", "audit.log") {
		if got, exp := collectionShape(t, dst, c), collectionShape(t, src, c); got != exp {
			t.Errorf("%s:\ngot  %s\nwant %s", c, got, exp)
		}
	}
	t.Logf("oplog %d entries (%s to %s); writer changes: %d before the start, %d during the backup, %d after; replay %+v",
		stats.Oplog.Entries, stats.Oplog.Start.String(), stats.Oplog.End.String(),
		upToStart, upToEnd-upToStart, w.Changes()-upToEnd, rstats.Oplog)
}

func equalRaw(a, b []bson.Raw) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// newestOplogEntry returns the timestamp of the newest oplog entry (FerretDB: by ts).
func newestOplogEntry(ctx context.Context, client *mongo.Client) (bson.Timestamp, bool, error) {
	src, err := oplog.OpenSource(ctx, client)
	if err != nil {
		return bson.Timestamp{}, false, err
	}
	ts, ok, err := src.Newest(ctx)
	return bson.Timestamp(ts), ok, err // for the test bed's writer and TrimOplog, which speak the driver's type
}
