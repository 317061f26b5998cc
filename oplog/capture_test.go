package oplog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// oplogBed is a bed on a server that logs its writes (testenv.NewMongoWithOplog).
func oplogBed(t testing.TB) *bed {
	m := testenv.NewMongoWithOplog(t)
	return &bed{t: t, mongo: m, db: m.Client.Database(m.DB)}
}

// memWriter keeps captured entries.
type memWriter struct{ docs []bson.Raw }

func (m *memWriter) Write(doc []byte) error {
	m.docs = append(m.docs, append(bson.Raw(nil), doc...))
	return nil
}

// writer changes documents of several collections of db until stopped: inserts,
// $set/$unset updates, replacements and deletes.
type writer struct {
	db    *mongo.Database
	stop  chan struct{}
	done  sync.WaitGroup
	ops   atomic.Int64
	err   atomic.Pointer[error]
	colls []string
}

func startWriter(db *mongo.Database, colls ...string) *writer {
	w := &writer{db: db, stop: make(chan struct{}), colls: colls}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			if err := w.step(rng, i); err != nil {
				w.err.Store(&err)
				return
			}
			w.ops.Add(1)
		}
	}()
	return w
}

func (w *writer) step(rng *rand.Rand, i int) error {
	ctx := ctxBackground()
	c := w.db.Collection(w.colls[rng.IntN(len(w.colls))])
	id := int32(rng.IntN(300))
	var err error
	switch rng.IntN(5) {
	case 0, 1:
		_, err = c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "_id", Value: id}, {Key: "n", Value: int32(i)}, {Key: "s", Value: fmt.Sprint("v", i)}},
			optsUpsert())
	case 2:
		_, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "extra", Value: int32(i)}}}, {Key: "$unset", Value: bson.D{{Key: "s", Value: ""}}}})
	case 3:
		_, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int32(1)}}}})
	case 4:
		_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	}
	return err
}

// waitOps waits until the writer made n more changes.
func (w *writer) waitOps(t testing.TB, n int64) {
	t.Helper()
	target := w.ops.Load() + n
	deadline := time.Now().Add(time.Minute)
	for w.ops.Load() < target {
		if err := w.err.Load(); err != nil {
			t.Fatalf("writer: %v", *err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("writer stalled at %d changes", w.ops.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *writer) halt(t testing.TB) int64 {
	close(w.stop)
	w.done.Wait()
	if err := w.err.Load(); err != nil {
		t.Fatalf("writer: %v", *err)
	}
	return w.ops.Load()
}

// copyCollection copies a collection the way a dump reads it: while it changes.
func copyCollection(t testing.TB, from, to *mongo.Collection) {
	t.Helper()
	cur, err := from.Find(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []any
	for cur.Next(ctxT(t)) {
		docs = append(docs, append(bson.Raw(nil), cur.Current...))
	}
	if cur.Err() != nil {
		t.Fatal(cur.Err())
	}
	if len(docs) > 0 {
		if _, err := to.InsertMany(ctxT(t), docs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCaptureAndReplayIsConsistent is the point of the package: collections copied one by
// one while a writer changes them, plus the oplog captured around the copy, replayed
// onto the copy, give exactly the source as it was at the capture's end.
func TestCaptureAndReplayIsConsistent(t *testing.T) {
	src, dst := oplogBed(t), newBed(t)
	colls := []string{"a", "b", "c"}
	for _, c := range colls {
		for i := int32(0); i < 150; i++ {
			src.insert(c, ejson(t, fmt.Sprintf(`{"_id": %d, "n": 0, "s": "initial"}`, i)))
		}
	}
	w := startWriter(src.db, colls...)
	cp, err := BeginCapture(ctxT(t), src.mongo.Client, CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range colls {
		w.waitOps(t, 40) // changes before, between and after the collections' reads
		copyCollection(t, src.db.Collection(c), dst.db.Collection(c))
	}
	w.waitOps(t, 40)
	ops := w.halt(t)
	if _, err := cp.End(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var got memWriter
	st, err := cp.Copy(ctxT(t), &got)
	if err != nil {
		t.Fatal(err)
	}
	if ops < 50 || st.Entries < ops/2 {
		t.Fatalf("writer made %d changes, capture holds %d entries: the test did not overlap the copy", ops, st.Entries)
	}
	toDst := func(_ context.Context, ns string) (string, bool, error) {
		db, coll := splitNS(ns)
		return dst.mongo.DB + "." + coll, db == src.mongo.DB, nil
	}
	r := NewReplayer(dst.mongo.Client, ReplayOptions{Target: toDst})
	for _, e := range got.docs {
		if err := r.Apply(ctxT(t), e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range colls {
		equalDocs(t, dst.docs(c), src.docs(c))
	}
	t.Logf("%d writes during the copy, %d entries captured (%d read)", ops, st.Entries, st.Read)
}

// TestCaptureSelectsNamespaces keeps the entries of the selected namespaces only.
func TestCaptureSelectsNamespaces(t *testing.T) {
	b := oplogBed(t)
	cp, err := BeginCapture(ctxT(t), b.mongo.Client, CaptureOptions{
		Databases:  []string{b.mongo.DB},
		Namespaces: func(ns string) bool { return ns == b.mongo.DB+".keep" },
	})
	if err != nil {
		t.Fatal(err)
	}
	b.insert("keep", ejson(t, `{"_id": 1}`))
	b.insert("other", ejson(t, `{"_id": 1}`))
	if _, err := b.mongo.Client.Database("oplogtest_elsewhere").Collection("x").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.End(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var got memWriter
	st, err := cp.Copy(ctxT(t), &got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.docs) != 1 || got.docs[0].Lookup("ns").StringValue() != b.mongo.DB+".keep" || st.Read < 3 {
		t.Errorf("captured %d of %d entries: %v", st.Entries, st.Read, got.docs)
	}
}

// TestCaptureOverflow: entries of the range deleted from the oplog while the backup runs
// (an oplog too small for the backup) fail the capture, saying what to do.
func TestCaptureOverflow(t *testing.T) {
	b := oplogBed(t)
	cp, err := BeginCapture(ctxT(t), b.mongo.Client, CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.insert("c", ejson(t, `{"_id": 1}`))
	// The oplog rolls over: its oldest entries, the start of the range included, go.
	if err := testenv.TrimOplog(ctxT(t), b.mongo.Client, bson.Timestamp(cp.start)); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.End(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	_, err = cp.Copy(ctxT(t), &memWriter{})
	if !errors.Is(err, ErrOverflow) || !strings.Contains(err.Error(), "oplog larger") || !strings.Contains(err.Error(), cp.start.String()) {
		t.Errorf("got %v", err)
	}
}

// TestCaptureRefusesAuthVersionChange: a write to admin.system.version during the
// backup, as mongodump refuses it.
func TestCaptureRefusesAuthVersionChange(t *testing.T) {
	b := oplogBed(t)
	cp, err := BeginCapture(ctxT(t), b.mongo.Client, CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ver := b.mongo.Client.Database("admin").Collection("system.version")
	if _, err := ver.InsertOne(ctxT(t), bson.D{{Key: "_id", Value: fmt.Sprint("oplogtest-", rand.Int())}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.End(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	_, err = cp.Copy(ctxT(t), &memWriter{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "admin.system.version") {
		t.Errorf("got %v", err)
	}
}

// TestSelectorRefusesAndFilters checks the selection on entries in the server's format
// (FerretDB writes no commands).
func TestSelectorRefusesAndFilters(t *testing.T) {
	rename := ejson(t, `{"ts": {"$timestamp": {"t": 1700000000, "i": 1}}, "op": "c", "ns": "app.$cmd", "o": {"renameCollection": "app.a", "to": "app.b", "stayTemp": false}}`)
	txn := rawJSON(t, loadTxnCases(t)["small, unprepared"].Ops[0])
	all := NewSelector(CaptureOptions{})
	if _, _, err := all.Keep(rename); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "app.a was renamed to app.b") {
		t.Errorf("rename in a full capture: %v", err)
	}
	for _, refused := range []string{
		`{"ts": {"$timestamp": {"t": 1700000000, "i": 3}}, "op": "c", "ns": "app.$cmd", "o": {"importCollection": "x"}}`,
		`{"ts": {"$timestamp": {"t": 1700000000, "i": 4}}, "op": "c", "ns": "config.$cmd", "o": {"create": "reshardingOperations"}}`,
		`{"ts": {"$timestamp": {"t": 1700000000, "i": 5}}, "op": "c", "ns": "app.$cmd", "o": {"upgradeDowngradeViewlessTimeseries": "x"}}`,
		`{"ts": {"$timestamp": {"t": 1700000000, "i": 6}}, "op": "c", "ns": "admin.$cmd", "o": {"applyOps": [{"op": "i", "ns": "admin.system.version", "o": {"_id": "x"}}]}}`,
	} {
		if _, _, err := all.Keep(ejson(t, refused)); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "1700000000,") {
			t.Errorf("%s: got %v, want refused", refused, err)
		}
	}
	other := NewSelector(CaptureOptions{Databases: []string{"other"}})
	if _, keep, err := other.Keep(rename); err != nil || keep {
		t.Errorf("rename outside the selection: keep %v, %v", keep, err)
	}
	// A transaction on txntest.c, captured for the database "other": kept (its chain),
	// but emptied of the operations of txntest.
	out, keep, err := other.Keep(txn)
	if err != nil || !keep {
		t.Fatalf("transaction: keep %v, %v", keep, err)
	}
	if ops, _ := out.Lookup("o", "applyOps").Array().Values(); len(ops) != 0 {
		t.Errorf("transaction operations outside the selection kept: %v", ops)
	}
	if _, err := out.LookupErr("lsid"); err != nil {
		t.Error("rebuilt entry lost its session")
	}
	mine := NewSelector(CaptureOptions{Databases: []string{"txntest"}})
	if out, keep, _ := mine.Keep(txn); !keep || string(out) != string(txn) {
		t.Error("a transaction of the selection must be kept byte for byte")
	}
	create := ejson(t, `{"ts": {"$timestamp": {"t": 1700000000, "i": 2}}, "op": "c", "ns": "txntest.$cmd", "o": {"create": "z"}}`)
	if _, keep, _ := other.Keep(create); keep {
		t.Error("command of another database kept")
	}
	if _, keep, _ := mine.Keep(create); !keep {
		t.Error("command of the selected database left out")
	}
}

func ctxBackground() context.Context { return context.Background() }

func optsUpsert() *options.ReplaceOptionsBuilder { return options.Replace().SetUpsert(true) }
