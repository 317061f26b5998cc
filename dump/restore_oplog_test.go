package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
)

// oplogArchive builds an archive of collection db.c (docs, one index {x:1}) and an oplog
// of the given entries, as mongodump --oplog lays it out.
func oplogArchive(t *testing.T, db string, docs []bson.Raw, entries []bson.Raw) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeOplogArchive(&buf, db, docs, len(entries), func(i int) bson.Raw { return entries[i] }); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeOplogArchive writes the archive of oplogArchive to w, the n oplog entries made
// one at a time by gen.
func writeOplogArchive(w io.Writer, db string, docs []bson.Raw, n int, gen func(int) bson.Raw) error {
	idx, _ := bson.Marshal(bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "x", Value: int32(1)}}}, {Key: "name", Value: "x_1"}})
	md, err := archive.FormatMetadata(&archive.Metadata{Indexes: []bson.Raw{idx}, CollectionName: "c", Type: "collection"})
	if err != nil {
		return err
	}
	aw := archive.NewWriterSize(w, 1<<20)
	err = aw.WritePrelude(archive.Prelude{Header: archive.Header{ConcurrentCollections: 1, ServerVersion: "7.0.0", ToolVersion: "test"},
		Entries: []archive.Entry{{DB: db, Collection: "c", Metadata: md, Type: "collection"}, oplogEntry}})
	if err != nil {
		return err
	}
	ctx := context.Background()
	nw, err := aw.Open(ctx, db, "c")
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := nw.Write(d); err != nil {
			return err
		}
	}
	if err := nw.Close(); err != nil {
		return err
	}
	if nw, err = aw.Open(ctx, "", "oplog"); err != nil {
		return err
	}
	for i := range n {
		if err := nw.Write(gen(i)); err != nil {
			return err
		}
	}
	if err := nw.Close(); err != nil {
		return err
	}
	return aw.Close()
}

func entry(i uint32, op, ns string, o, o2 bson.D) bson.Raw {
	d := bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: i}}, {Key: "t", Value: int64(1)}, {Key: "op", Value: op}, {Key: "ns", Value: ns}, {Key: "o", Value: o}}
	if o2 != nil {
		d = append(d, bson.E{Key: "o2", Value: o2})
	}
	raw, _ := bson.Marshal(d)
	return raw
}

func doc(d bson.D) bson.Raw {
	raw, _ := bson.Marshal(d)
	return raw
}

func collectionNames(t *testing.T, m *testenv.Mongo, db string) string {
	t.Helper()
	names, err := m.Client.Database(db).ListCollectionNames(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(names)
}

// TestRestoreDropReplaysIntoTemporaries: with Drop over existing collections, the oplog
// goes into the temporary collections; a replay that fails replaces nothing and leaves
// no temporary behind, one that succeeds swaps the replayed data in.
func TestRestoreDropReplaysIntoTemporaries(t *testing.T) {
	m := testenv.NewMongo(t)
	coll := m.Client.Database(m.DB).Collection("c")
	if _, err := coll.InsertOne(ctxT(t), bson.D{{Key: "_id", Value: "existing"}}); err != nil {
		t.Fatal(err)
	}
	dumped := []bson.Raw{doc(bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: int32(1)}})}
	good := []bson.Raw{
		entry(1, "i", "src.c", bson.D{{Key: "_id", Value: int32(2)}, {Key: "x", Value: int32(2)}}, nil),
		entry(2, "u", "src.c", bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: bson.D{{Key: "u", Value: bson.D{{Key: "x", Value: int32(10)}}}}}}, bson.D{{Key: "_id", Value: int32(1)}}),
	}
	bad := append(append([]bson.Raw(nil), good...), entry(3, "c", "src.$cmd", bson.D{{Key: "frobnicate", Value: "c"}}, nil))
	rn, err := ns.NewRenamer([]string{"src.*"}, []string{m.DB + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	opts := RestoreOptions{Renamer: rn, Drop: true, OplogReplay: true}

	_, err = Restore(ctxT(t), m.Client, bytes.NewReader(oplogArchive(t, "src", dumped, bad)), opts)
	if err == nil || !strings.Contains(err.Error(), "frobnicate") || !strings.Contains(err.Error(), "1700000000,3") || !strings.Contains(err.Error(), "nothing was replaced") {
		t.Fatalf("failing replay: got %v", err)
	}
	if got := rawDocs(t, coll); len(got) != 1 || got[0].Lookup("_id").StringValue() != "existing" {
		t.Errorf("after the failed replay: %v", got)
	}
	if names := collectionNames(t, m, m.DB); names != "[c]" {
		t.Errorf("collections left: %s", names)
	}

	st, err := Restore(ctxT(t), m.Client, bytes.NewReader(oplogArchive(t, "src", dumped, good)), opts)
	if err != nil {
		t.Fatal(err)
	}
	got := rawDocs(t, coll)
	want := []bson.Raw{doc(bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: int32(10)}}), doc(bson.D{{Key: "_id", Value: int32(2)}, {Key: "x", Value: int32(2)}})}
	if !equalRaw(got, want) {
		t.Errorf("after the replay: %v", got)
	}
	if names := collectionNames(t, m, m.DB); names != "[c]" {
		t.Errorf("collections: %s", names)
	}
	if st.Oplog == nil || st.Oplog.Entries != 2 {
		t.Errorf("oplog stats: %+v", st.Oplog)
	}
	if shape := collectionShape(t, m.Client.Database(m.DB), "c"); !strings.Contains(shape, "x_1") {
		t.Errorf("index built after the replay missing: %s", shape)
	}

	// Dropped during the backup: the restored state has no such collection.
	dropped := append(append([]bson.Raw(nil), good...), entry(3, "c", "src.$cmd", bson.D{{Key: "drop", Value: "c"}}, nil))
	if _, err := Restore(ctxT(t), m.Client, bytes.NewReader(oplogArchive(t, "src", dumped, dropped)), opts); err != nil {
		t.Fatal(err)
	}
	if names := collectionNames(t, m, m.DB); names != "[]" {
		t.Errorf("after a replay that drops the collection: %s", names)
	}
}

// TestRestoreOplogOptions: a required replay of an archive without an oplog fails before
// writing; the limit is exclusive; a dry run reads and checks the entries; a namespace
// only the oplog knows (created during the backup) follows the filter and the renames.
func TestRestoreOplogOptions(t *testing.T) {
	m := testenv.NewMongo(t)
	rn, err := ns.NewRenamer([]string{"src.*"}, []string{m.DB + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	aw := archive.NewWriter(&plain)
	if err := aw.WritePrelude(archive.Prelude{Header: archive.Header{ServerVersion: "7.0.0"}}); err != nil {
		t.Fatal(err)
	}
	_ = aw.Close()
	_, err = Restore(ctxT(t), m.Client, bytes.NewReader(plain.Bytes()), RestoreOptions{OplogReplay: true, OplogRequired: true})
	if !errors.Is(err, ErrNoOplogToReplay) {
		t.Errorf("required replay without an oplog: %v", err)
	}

	entries := []bson.Raw{
		entry(1, "i", "src.c", bson.D{{Key: "_id", Value: int32(1)}}, nil),
		entry(2, "i", "src.new", bson.D{{Key: "_id", Value: int32(1)}}, nil),
		entry(3, "i", "src.skipped", bson.D{{Key: "_id", Value: int32(1)}}, nil),
		entry(4, "i", "src.c", bson.D{{Key: "_id", Value: int32(2)}}, nil),
	}
	data := oplogArchive(t, "src", nil, entries)
	dry, err := Restore(ctxT(t), nil, bytes.NewReader(data), RestoreOptions{DryRun: true, OplogReplay: true})
	if err != nil || dry.Oplog == nil || dry.Oplog.Entries != 4 {
		t.Errorf("dry run: %+v %v", dry.Oplog, err)
	}
	filter, err := ns.NewMatcher(nil, []string{"src.skipped"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Restore(ctxT(t), m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn, Filter: filter, OplogReplay: true,
		OplogLimit: optime.Timestamp{T: 1700000000, I: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if names := collectionNames(t, m, m.DB); names != "[c new]" && names != "[new c]" {
		t.Errorf("collections: %s", names)
	}
	if n := len(rawDocs(t, m.Client.Database(m.DB).Collection("c"))); n != 1 || !st.Oplog.LimitReached {
		t.Errorf("limit 4 (exclusive): %d documents in c, stats %+v", n, st.Oplog)
	}
}

// gatedWriter holds the first write (the archive's prelude, written after the oplog
// capture started and before any collection is read) until release is closed.
type gatedWriter struct {
	w       io.Writer
	once    sync.Once
	arrived chan struct{}
	release chan struct{}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.arrived)
		<-g.release
	})
	return g.w.Write(p)
}

// TestDumpOplogOverflow: the oplog loses the start of the capture's range while the
// collections are read (an oplog too small for the backup): the dump fails saying so.
func TestDumpOplogOverflow(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	if _, err := m.Client.Database(m.DB).Collection("c").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	g := &gatedWriter{w: io.Discard, arrived: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := Dump(ctxT(t), m.Client, g, DumpOptions{Databases: []string{m.DB}, Oplog: true})
		errc <- err
	}()
	<-g.arrived
	// The capture started before the prelude: everything up to now rolls off the oplog.
	newest, _, err := newestOplogEntry(ctxT(t), m.Client)
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.TrimOplog(ctxT(t), m.Client, newest); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Client.Database(m.DB).Collection("c").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	err = <-errc
	if !errors.Is(err, oplog.ErrOverflow) || !strings.Contains(err.Error(), "Make the oplog larger") {
		t.Fatalf("got %v, want an oplog overflow", err)
	}
}

// TestRestoreOplogMemoryBounded replays an oplog of about 140 MiB, four times the
// restore's 32 MiB budget for documents in flight, streamed from a generator: the entries
// go through the replay as they are read, so the live heap stays within a bound that does
// not depend on the oplog's size (measured: 30 MiB here; 43 to 60 MiB for 23, 94 and 188 MiB oplogs when the generator buffered 16 MiB;
// the replaced code held every entry until the end).
func TestRestoreOplogMemoryBounded(t *testing.T) {
	m := testenv.NewMongo(t)
	rn, err := ns.NewRenamer([]string{"src.*"}, []string{m.DB + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	const entries = 12000
	pad := strings.Repeat("p", 12<<10)
	pr, pw := io.Pipe()
	var written atomic.Int64
	go func() {
		err := writeOplogArchive(pw, "src", nil, entries, func(i int) bson.Raw {
			e := entry(uint32(i+1), "i", "src.c", bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}}, nil)
			written.Add(int64(len(e)))
			return e
		})
		pw.CloseWithError(err)
	}()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // live heap, sampled right after a collection
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
		}
	}()
	st, err := Restore(ctxT(t), m.Client, pr, RestoreOptions{Renamer: rn, OplogReplay: true})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.Oplog.Inserts != entries {
		t.Fatalf("replayed %d inserts", st.Oplog.Inserts)
	}
	grew := int64(peak.Load()) - int64(base.HeapAlloc)
	t.Logf("oplog %d MiB, live heap grew by at most %d MiB during the restore", written.Load()>>20, grew>>20)
	if grew > 48<<20 {
		t.Errorf("live heap grew by %d MiB replaying a %d MiB oplog; want at most 48 MiB", grew>>20, written.Load()>>20)
	}
}

// TestDumpOplogLeavesTemporariesOut: writes into a restore's temporary collections
// during a backup are not captured (nor are the collections themselves dumped).
func TestDumpOplogLeavesTemporariesOut(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	db := m.Client.Database(m.DB)
	if _, err := db.Collection("c").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	g := &gatedWriter{w: &buf, arrived: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := Dump(ctxT(t), m.Client, g, DumpOptions{Databases: []string{m.DB}, Oplog: true})
		errc <- err
	}()
	<-g.arrived
	for _, coll := range []string{temporaryName(), "c"} {
		if _, err := db.Collection(coll).InsertOne(ctxT(t), bson.D{{Key: "during", Value: true}}); err != nil {
			t.Fatal(err)
		}
	}
	close(g.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ar := archive.NewReader(bytes.NewReader(buf.Bytes()))
	if _, err := ar.Prelude(); err != nil {
		t.Fatal(err)
	}
	var captured []string
	for {
		rec, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.DB == "" && rec.Doc != nil && rec.Doc.Lookup("o", "during").Type == bson.TypeBoolean {
			captured = append(captured, rec.Doc.Lookup("ns").StringValue())
		}
	}
	if len(captured) != 1 || captured[0] != m.DB+".c" {
		t.Errorf("captured the writes made during the dump on %v, want only the one on %s.c", captured, m.DB)
	}
}
