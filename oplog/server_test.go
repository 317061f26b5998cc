package oplog

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Run(m) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// bed is a test database and a replayer that sends every source namespace "<db>.<c>"
// to "<test db>.<c>".
type bed struct {
	t     testing.TB
	mongo *testenv.Mongo
	db    *mongo.Database
}

func newBed(t testing.TB) *bed {
	m := testenv.NewMongo(t)
	return &bed{t: t, mongo: m, db: m.Client.Database(m.DB)}
}

// intoBed maps every source database onto the test database.
func (b *bed) intoBed(_ context.Context, ns string) (string, bool, error) {
	_, coll := splitNS(ns)
	return b.mongo.DB + "." + coll, true, nil
}

func (b *bed) replayer(opts ReplayOptions) *Replayer {
	if opts.Target == nil {
		opts.Target = b.intoBed
	}
	return NewReplayer(b.mongo.Client, opts)
}

// replay applies entries with a fresh replayer and closes it.
func (b *bed) replay(opts ReplayOptions, entries ...bson.Raw) (ReplayStats, error) {
	r := b.replayer(opts)
	for _, e := range entries {
		if err := r.Apply(ctxT(b.t), e); err != nil {
			r.Close(ctxT(b.t))
			return r.stats, err
		}
	}
	return r.Close(ctxT(b.t))
}

func (b *bed) mustReplay(opts ReplayOptions, entries ...bson.Raw) ReplayStats {
	b.t.Helper()
	st, err := b.replay(opts, entries...)
	if err != nil {
		b.t.Fatalf("replay: %v", err)
	}
	return st
}

// docs returns a collection's documents sorted by _id bytes.
func (b *bed) docs(coll string) []bson.Raw {
	b.t.Helper()
	// Sorted by _id on the server: FerretDB v2.7 (DocumentDB) pages a natural-order scan of
	// a collection whose documents were updated wrongly, and getMore returns some documents
	// again (156 stored, 172 returned; with batches of 50, over a million). An _id-ordered
	// scan pages correctly.
	cur, err := b.db.Collection(coll).Find(ctxT(b.t), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		b.t.Fatal(err)
	}
	var out []bson.Raw
	for cur.Next(ctxT(b.t)) {
		out = append(out, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		b.t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		return bytes.Compare(out[i].Lookup("_id").Value, out[j].Lookup("_id").Value) < 0
	})
	return out
}

func (b *bed) insert(coll string, docs ...bson.Raw) {
	b.t.Helper()
	for _, d := range docs {
		if _, err := b.db.Collection(coll).InsertOne(ctxT(b.t), d); err != nil {
			b.t.Fatal(err)
		}
	}
}

func (b *bed) collections() []string {
	b.t.Helper()
	names, err := b.db.ListCollectionNames(ctxT(b.t), bson.D{})
	if err != nil {
		b.t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func (b *bed) indexNames(coll string) []string {
	b.t.Helper()
	cur, err := b.db.Collection(coll).Indexes().List(ctxT(b.t))
	if err != nil {
		b.t.Fatal(err)
	}
	var names []string
	for cur.Next(ctxT(b.t)) {
		names = append(names, cur.Current.Lookup("name").StringValue())
	}
	sort.Strings(names)
	return names
}

// op builds an oplog entry as a server writes it (ts, t, v, op, ns, o[, o2], wall).
func op(ts uint32, kind, ns string, o bson.Raw, o2 bson.Raw) bson.Raw {
	d := bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: ts}}, {Key: "t", Value: int64(1)},
		{Key: "v", Value: int64(2)}, {Key: "op", Value: kind}, {Key: "ns", Value: ns}, {Key: "o", Value: o}}
	if o2 != nil {
		d = append(d, bson.E{Key: "o2", Value: o2})
	}
	d = append(d, bson.E{Key: "wall", Value: bson.DateTime(1700000000000)})
	raw, err := bson.Marshal(d)
	if err != nil {
		panic(err)
	}
	return raw
}

func idDoc(id any) bson.Raw {
	raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: id}})
	return raw
}

func equalDocs(t testing.TB, got, want []bson.Raw) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d documents, want %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("document %d:\ngot  %s\nwant %s", i, got[i], want[i])
		}
	}
}

// hasNestedArray: does doc hold an array inside an array?
func hasNestedArray(doc bson.Raw) bool {
	for _, el := range mustElements(doc) {
		v := el.Value()
		switch v.Type {
		case bson.TypeArray:
			vals, _ := v.Array().Values()
			for _, x := range vals {
				if x.Type == bson.TypeArray {
					return true
				}
				if d, ok := x.DocumentOK(); ok && hasNestedArray(d) {
					return true
				}
			}
		case bson.TypeEmbeddedDocument:
			if hasNestedArray(v.Document()) {
				return true
			}
		}
	}
	return false
}

// prependID puts _id first, as a stored document has it.
func prependID(tb testing.TB, id int32, doc bson.Raw) bson.Raw {
	tb.Helper()
	d := bson.D{{Key: "_id", Value: id}}
	for _, el := range mustElements(doc) {
		d = append(d, bson.E{Key: el.Key(), Value: el.Value()})
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// TestReplayDiffVectorsOnServer replays each of the server's diff vectors as an oplog
// entry onto the pre-image stored in the test server, and reads back the post-image:
// the fast operator form (top-level u/i/d diffs) runs on the server, the others are
// applied by the replay and written as replacements; both must give the server's bytes.
func TestReplayDiffVectorsOnServer(t *testing.T) {
	b := newBed(t)
	var entries []bson.Raw
	var want []bson.Raw
	for i, c := range loadDiffVectors(t).Cases {
		id := int32(i + 1)
		if hasNestedArray(rawJSON(t, c.Pre)) || hasNestedArray(rawJSON(t, c.Post)) {
			continue // FerretDB v1 cannot store arrays inside arrays; the unit test covers it
		}
		b.insert("vectors", prependID(t, id, rawJSON(t, c.Pre)))
		o, _ := bson.Marshal(bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: rawJSON(t, c.Diff)}})
		entries = append(entries, op(uint32(i+1), "u", "src.vectors", o, idDoc(id)))
		want = append(want, prependID(t, id, rawJSON(t, c.Post)))
	}
	st := b.mustReplay(ReplayOptions{}, entries...)
	equalDocs(t, b.docs("vectors"), want)
	if st.Updates != int64(len(entries)) {
		t.Errorf("updates: got %d, want %d", st.Updates, len(entries))
	}
	// And once more over the result: nothing changes.
	b.mustReplay(ReplayOptions{}, entries...)
	equalDocs(t, b.docs("vectors"), want)
}

func TestReplayCRUDForms(t *testing.T) {
	b := newBed(t)
	b.insert("c", ejson(t, `{"_id": 1, "a": 1, "b": 2}`), ejson(t, `{"_id": 2, "a": 1}`), ejson(t, `{"_id": 5, "z": 1}`))
	entries := []bson.Raw{
		// insert of a document the collection already has (the dump read it): replaced
		op(1, "i", "src.c", ejson(t, `{"_id": 1, "a": 10}`), nil),
		// insert of a new one
		op(2, "i", "src.c", ejson(t, `{"_id": 3, "x": "new"}`), nil),
		// $v:1 operators, as MongoDB up to 4.4 logs them
		op(3, "u", "src.c", ejson(t, `{"$v": 1, "$set": {"c": 3}, "$unset": {"a": true}}`), idDoc(2)),
		// replacement without $v
		op(4, "u", "src.c", ejson(t, `{"_id": 3, "y": "replaced"}`), idDoc(3)),
		// FerretDB's form: $v:1 $set of the whole new document; the update removed z
		op(5, "u", "src.c", ejson(t, `{"$v": 1, "$set": {"_id": 5, "w": 1}}`), idDoc(5)),
		// update of a document that does not exist: not created
		op(6, "u", "src.c", ejson(t, `{"$v": 2, "diff": {"u": {"q": 1}}}`), idDoc(99)),
		op(7, "d", "src.c", idDoc(1), nil),
		// delete of a missing document: nothing
		op(8, "d", "src.c", idDoc(98), nil),
		op(9, "n", "", ejson(t, `{"msg": "periodic noop"}`), nil),
	}
	st := b.mustReplay(ReplayOptions{}, entries...)
	equalDocs(t, b.docs("c"), []bson.Raw{
		ejson(t, `{"_id": 2, "c": 3}`),
		ejson(t, `{"_id": 3, "y": "replaced"}`),
		ejson(t, `{"_id": 5, "w": 1}`),
	})
	if st.Inserts != 2 || st.Updates != 4 || st.Deletes != 2 || st.Skipped != 1 || st.Entries != 9 {
		t.Errorf("stats: %+v", st)
	}
}

// TestReplayInsertRunWithExisting sends a long run of inserts, some of whose documents
// exist already: one insert command, then replacements for the duplicates.
func TestReplayInsertRunWithExisting(t *testing.T) {
	b := newBed(t)
	b.insert("c", ejson(t, `{"_id": 3, "v": "old"}`), ejson(t, `{"_id": 7, "v": "old"}`))
	var entries []bson.Raw
	var want []bson.Raw
	for i := int32(0); i < 20; i++ {
		doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "new"}})
		entries = append(entries, op(uint32(i+1), "i", "src.c", doc, nil))
		want = append(want, doc)
	}
	st := b.mustReplay(ReplayOptions{}, entries...)
	got := b.docs("c")
	sort.Slice(got, func(i, j int) bool { return got[i].Lookup("_id").Int32() < got[j].Lookup("_id").Int32() })
	equalDocs(t, got, want)
	if st.Writes != 2 {
		t.Errorf("write commands: got %d, want 2 (one insert, one bulk for the 2 existing documents)", st.Writes)
	}
}

func TestReplayUnknownOpNamesEntry(t *testing.T) {
	b := newBed(t)
	for _, c := range []struct {
		entry bson.Raw
		want  []string
	}{
		{op(7, "x", "src.c", ejson(t, `{}`), nil), []string{"1700000000,7", `op "x"`, "unknown operation"}},
		{op(8, "c", "src.$cmd", ejson(t, `{"frobnicate": "c"}`), nil), []string{"1700000000,8", "frobnicate", "unknown command"}},
		{op(9, "u", "src.c", ejson(t, `{"$v": 3, "diff": {}}`), idDoc(1)), []string{"1700000000,9", "$v:3"}},
		{op(10, "u", "src.c", ejson(t, `{"$v": 1, "$inc": {"a": 1}}`), idDoc(1)), []string{"1700000000,10", "$inc"}},
	} {
		_, err := b.replay(ReplayOptions{}, c.entry)
		if err == nil {
			t.Fatalf("%s: no error", c.entry)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}
}

// TestReplayOperatorFormIsExact checks, on the server, that the update operators the
// replay sends for simple $v:2 diffs give the very document the server's diff applier
// gives, for many random pre-images and diffs (fields present or not, moved by i
// sections, appended in order).
func TestReplayOperatorFormIsExact(t *testing.T) {
	b := newBed(t)
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "c", "d", "e", "f"}
	var entries, want []bson.Raw
	operators := 0
	for i := int32(1); i <= 300; i++ {
		pre := bson.D{{Key: "_id", Value: i}}
		for _, n := range rng.Perm(len(names))[:rng.IntN(len(names)+1)] {
			pre = append(pre, bson.E{Key: names[n], Value: int32(rng.IntN(9))})
		}
		sections := map[string]bson.D{}
		for _, n := range names {
			switch rng.IntN(5) {
			case 0:
				sections["u"] = append(sections["u"], bson.E{Key: n, Value: "u" + n})
			case 1:
				sections["i"] = append(sections["i"], bson.E{Key: n, Value: "i" + n})
			case 2:
				sections["d"] = append(sections["d"], bson.E{Key: n, Value: false})
			}
		}
		var diff bson.D
		for _, s := range []string{"d", "u", "i"} {
			if len(sections[s]) > 0 {
				diff = append(diff, bson.E{Key: s, Value: sections[s]})
			}
		}
		if len(diff) == 0 {
			continue
		}
		preRaw, _ := bson.Marshal(pre)
		diffRaw, _ := bson.Marshal(diff)
		post, err := applyDiff(preRaw, diffRaw)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := diffAsOperators(diffRaw); ok {
			operators++
		}
		b.insert("ops", bson.Raw(preRaw))
		o, _ := bson.Marshal(bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: bson.Raw(diffRaw)}})
		entries = append(entries, op(uint32(i), "u", "src.ops", o, idDoc(i)))
		want = append(want, post)
	}
	if operators < 100 {
		t.Fatalf("only %d of %d diffs took the operator form", operators, len(entries))
	}
	// Forget nothing: a fresh replayer knows no document, so every operator form goes
	// to the server as operators.
	b.mustReplay(ReplayOptions{}, entries...)
	got := b.docs("ops")
	sort.Slice(got, func(i, j int) bool { return got[i].Lookup("_id").Int32() < got[j].Lookup("_id").Int32() })
	sort.Slice(want, func(i, j int) bool { return want[i].Lookup("_id").Int32() < want[j].Lookup("_id").Int32() })
	equalDocs(t, got, want)
}
