package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
)

// oplogOn creates the capped local.oplog.rs that makes FerretDB v1 log its writes (the
// test server is shared by the package's tests; once it exists every write is logged).
func oplogOn(t *testing.T, client *mongo.Client) {
	t.Helper()
	err := client.Database("local").RunCommand(ctxT(t), bson.D{{Key: "create", Value: "oplog.rs"},
		{Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 30)}}).Err()
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Code == 48) {
		t.Fatalf("create local.oplog.rs: %v", err)
	}
	if _, err := client.Database("dumptest_seed").Collection("seed").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
}

// change is one write of modelWriter and what it left: the document as read back right
// after it (nil: deleted), and, once matched, the timestamp of its oplog entry.
type change struct {
	ts   bson.Timestamp
	coll string
	key  string
	doc  bson.Raw
}

// modelWriter writes to its collections one operation at a time (replacements, inserts,
// $set/$unset and $inc updates, deletes; a unique index refuses some) and records each
// write that changed something with the document afterwards. Once stopped, it matches
// its writes, in order, with their oplog entries (it is their only writer): the state of
// the collections at any oplog timestamp is then known exactly.
type modelWriter struct {
	client  *mongo.Client
	db      string
	colls   []string
	mu      sync.Mutex
	changes []change
	stop    chan struct{}
	done    chan error
}

func startModelWriter(client *mongo.Client, db string, colls ...string) *modelWriter {
	w := &modelWriter{client: client, db: db, colls: colls, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		rng := rand.New(rand.NewPCG(3, 4))
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			if err := w.step(rng, i); err != nil {
				w.done <- err
				return
			}
		}
	}()
	return w
}

func (w *modelWriter) step(rng *rand.Rand, i int) error {
	ctx := context.Background()
	name := w.colls[rng.IntN(len(w.colls))]
	c := w.client.Database(w.db).Collection(name)
	id := int32(rng.IntN(260))
	filter := bson.D{{Key: "_id", Value: id}}
	var changed bool
	var err error
	switch rng.IntN(6) {
	case 0, 1:
		var r *mongo.UpdateResult
		r, err = c.ReplaceOne(ctx, filter, bson.D{{Key: "_id", Value: id}, {Key: "u", Value: int32(rng.IntN(400))},
			{Key: "n", Value: int32(i)}, {Key: "tags", Value: bson.A{"x", int64(i)}}}, options.Replace().SetUpsert(true))
		changed = err == nil && (r.MatchedCount > 0 || r.UpsertedCount > 0)
	case 2:
		var r *mongo.UpdateResult
		r, err = c.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "extra", Value: fmt.Sprint("e", i)}}},
			{Key: "$unset", Value: bson.D{{Key: "tags", Value: ""}}}})
		changed = err == nil && r.MatchedCount > 0
	case 3:
		var r *mongo.UpdateResult
		r, err = c.UpdateOne(ctx, filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int32(1)}}}})
		changed = err == nil && r.MatchedCount > 0
	default:
		var r *mongo.DeleteResult
		r, err = c.DeleteOne(ctx, filter)
		changed = err == nil && r.DeletedCount > 0
	}
	var we mongo.WriteException
	if (errors.As(err, &we) && we.HasErrorCode(11000)) || (err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")) {
		return nil // the unique index refused it (FerretDB v1 says so as an InternalError): nothing happened
	}
	if err != nil || !changed {
		return err
	}
	var doc bson.Raw
	err = c.FindOne(ctx, filter).Decode(&doc)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	w.mu.Lock()
	w.changes = append(w.changes, change{coll: name, key: fmt.Sprint(id), doc: doc})
	w.mu.Unlock()
	return nil
}

func (w *modelWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.changes)
}

func (w *modelWriter) waitChanges(t *testing.T, n int) {
	t.Helper()
	target := w.count() + n
	for deadline := time.Now().Add(2 * time.Minute); w.count() < target; {
		select {
		case err := <-w.done:
			t.Fatalf("writer stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("writer stalled")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// halt stops the writer and matches its changes with their oplog entries, in order,
// checking that each entry is about the document the change was.
func (w *modelWriter) halt(t *testing.T, after bson.Timestamp) {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	var nss bson.A
	for _, c := range w.colls {
		nss = append(nss, w.db+"."+c)
	}
	cur, err := w.client.Database("local").Collection("oplog.rs").Find(ctxT(t),
		bson.D{{Key: "ns", Value: bson.D{{Key: "$in", Value: nss}}}, {Key: "ts", Value: bson.D{{Key: "$gt", Value: after}}}},
		options.Find().SetSort(bson.D{{Key: "ts", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for ; cur.Next(ctxT(t)); i++ {
		e := cur.Current
		id, ok := e.Lookup("o2", "_id").Int32OK()
		if !ok {
			id = e.Lookup("o", "_id").Int32()
		}
		if i >= len(w.changes) || w.changes[i].coll != strings.TrimPrefix(e.Lookup("ns").StringValue(), w.db+".") || w.changes[i].key != fmt.Sprint(id) {
			t.Fatalf("oplog entry %d (%s) does not match the writer's change %d", i, e, i)
		}
		t1, i1, _ := e.Lookup("ts").TimestampOK()
		w.changes[i].ts = bson.Timestamp{T: t1, I: i1}
	}
	if i != len(w.changes) {
		t.Fatalf("%d oplog entries for %d changes", i, len(w.changes))
	}
}

// stateAt applies the recorded changes up to ts (included) to initial documents, and
// counts them.
func (w *modelWriter) stateAt(initial map[string]map[string]bson.Raw, ts bson.Timestamp) (map[string]map[string]bson.Raw, int) {
	out := map[string]map[string]bson.Raw{}
	for c, docs := range initial {
		out[c] = map[string]bson.Raw{}
		for k, d := range docs {
			out[c][k] = d
		}
	}
	n := 0
	for _, ch := range w.changes {
		if oplog.Before(ts, ch.ts) {
			continue
		}
		n++
		if ch.doc == nil {
			delete(out[ch.coll], ch.key)
		} else {
			out[ch.coll][ch.key] = ch.doc
		}
	}
	return out, n
}

func docsByID(t *testing.T, c *mongo.Collection) map[string]bson.Raw {
	t.Helper()
	out := map[string]bson.Raw{}
	for _, d := range rawDocs(t, c) {
		out[fmt.Sprint(d.Lookup("_id").Int32())] = d // as modelWriter keys them
	}
	return out
}

func sortedDocs(m map[string]bson.Raw) []bson.Raw {
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
	m := testenv.NewMongo(t)
	oplogOn(t, m.Client)
	ctx := ctxT(t)
	counts, err := sample.Load(ctx, m.Client, m.DB, 3000)
	if err != nil {
		t.Fatal(err)
	}
	src := m.Client.Database(m.DB)
	written := []string{"w1", "w2", "w3"}
	initial := map[string]map[string]bson.Raw{}
	for _, c := range written {
		if _, err := src.Collection(c).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "u", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
			t.Fatal(err)
		}
		for i := int32(0); i < 200; i++ {
			if _, err := src.Collection(c).InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "u", Value: 1000 + i}, {Key: "n", Value: int32(0)}}); err != nil {
				t.Fatal(err)
			}
		}
		initial[c] = docsByID(t, src.Collection(c))
	}
	setup, _, err := newestOplogEntry(ctx, m.Client)
	if err != nil {
		t.Fatal(err)
	}
	w := startModelWriter(m.Client, m.DB, written...)
	w.waitChanges(t, 20)
	data, stats := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, Oplog: true, Parallel: 2, ToolVersion: "test"})
	w.waitChanges(t, 20) // changes after the end, which the restore must not show
	w.halt(t, setup)

	if stats.Oplog == nil || stats.Oplog.Entries == 0 {
		t.Fatalf("no oplog captured: %+v", stats.Oplog)
	}
	// The model is right: at the last change it is the source as it is now.
	final, total := w.stateAt(initial, bson.Timestamp{T: 1<<32 - 1})
	for _, c := range written {
		if got, exp := rawDocs(t, src.Collection(c)), sortedDocs(final[c]); !equalRaw(got, exp) {
			t.Fatalf("model of %s disagrees with the source", c)
		}
	}
	want, upToEnd := w.stateAt(initial, stats.Oplog.End)
	_, upToStart := w.stateAt(initial, stats.Oplog.Start)
	if upToEnd-upToStart < 10 || total == upToEnd {
		t.Fatalf("changes: %d before the start, %d before the end, %d in all: the writer did not overlap the backup", upToStart, upToEnd, total)
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
		if len(got) != len(exp) {
			t.Errorf("%s: %d documents, want %d at the consistent point", c, len(got), len(exp))
		}
		for i := range min(len(got), len(exp)) {
			if !bytes.Equal(got[i], exp[i]) {
				t.Errorf("%s: document %d: got %s, want %s", c, i, got[i], exp[i])
				break
			}
		}
	}
	for c := range counts {
		if got, exp := rawDocs(t, dst.Collection(c)), rawDocs(t, src.Collection(c)); len(got) != len(exp) {
			t.Errorf("%s: %d documents, want %d", c, len(got), len(exp))
		}
	}
	for _, c := range append(written, "orders", "users", "events", "audit.log") {
		if got, exp := collectionShape(t, dst, c), collectionShape(t, src, c); got != exp {
			t.Errorf("%s:\ngot  %s\nwant %s", c, got, exp)
		}
	}
	t.Logf("oplog %d entries (%s to %s); writer changes: %d before the start, %d during the backup, %d after; replay %+v",
		stats.Oplog.Entries, oplog.FormatTimestamp(stats.Oplog.Start), oplog.FormatTimestamp(stats.Oplog.End),
		upToStart, upToEnd-upToStart, total-upToEnd, rstats.Oplog)
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
	return src.Newest(ctx)
}
