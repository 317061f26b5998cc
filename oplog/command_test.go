package oplog

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mongostash/mongostash/optime"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func tools(t *testing.T, name string) []bson.Raw {
	return readBSONFile(t, "testdata/mongo-tools/"+name+".bson")
}

// TestReplayCommandVectors replays command entries that servers wrote (mongo-tools'
// test oplogs) and checks what they leave.
func TestReplayCommandVectors(t *testing.T) {
	b := newBed(t)
	b.mustReplay(ReplayOptions{}, tools(t, "noop_create_insert")...)
	if got := b.docs("data"); len(got) != 1 || got[0].Lookup("a").Double() != 1 {
		t.Errorf("create + insert: %v", got)
	}

	b.mustReplay(ReplayOptions{}, tools(t, "create_index")...)
	if got := strings.Join(b.indexNames("foo"), ","); got != "_id_,f_1" {
		t.Errorf("createIndexes: indexes %s", got)
	}
	b.mustReplay(ReplayOptions{}, tools(t, "drop_index")...)
	b.mustReplay(ReplayOptions{}, tools(t, "drop_index")...) // again: already gone, no error
	if got := strings.Join(b.indexNames("foo"), ","); got != "_id_" {
		t.Errorf("dropIndexes: indexes %s", got)
	}
	b.mustReplay(ReplayOptions{}, tools(t, "commit_index")...) // startIndexBuild skipped, commitIndexBuild builds
	if got := strings.Join(b.indexNames("foo"), ","); got != "_id_,a_1" {
		t.Errorf("commitIndexBuild: indexes %s", got)
	}
	b.mustReplay(ReplayOptions{}, tools(t, "drop_collection")...)
	if got := b.collections(); strings.Join(got, ",") != "data" {
		t.Errorf("drop: collections %v", got)
	}
}

func TestReplayDropDatabaseDropsKnownCollections(t *testing.T) {
	b := newBed(t)
	b.insert("other", ejson(t, `{"_id": 1}`)) // in the target, not from the replayed database
	st := b.mustReplay(ReplayOptions{Known: []string{"test.x"}},
		op(1, "i", "test.y", ejson(t, `{"_id": 1}`), nil),
		op(2, "i", "elsewhere.z", ejson(t, `{"_id": 1}`), nil),
	)
	b.insert("x", ejson(t, `{"_id": 1}`))
	st = b.mustReplay(ReplayOptions{Known: []string{"test.x", "test.y", "elsewhere.z"}}, tools(t, "drop_db")...)
	if got := strings.Join(b.collections(), ","); got != "other,z" {
		t.Errorf("after dropDatabase of test: %s", got)
	}
	if st.Commands != 1 {
		t.Errorf("commands: %d", st.Commands)
	}
}

func TestReplayNestedApplyOpsAndBatchedWrites(t *testing.T) {
	b := newBed(t)
	b.mustReplay(ReplayOptions{}, tools(t, "nested_applyops")...)
	if n := len(b.docs("c1")); n != 5 {
		t.Errorf("applyOps: %d documents in c1, want 5", n)
	}
	b.mustReplay(ReplayOptions{}, append(tools(t, "vectored_insert"), tools(t, "linked_vectored_inserts")...)...)
	var ids []int32
	for _, d := range b.docs("coll1") {
		ids = append(ids, d.Lookup("_id").Int32())
	}
	if len(ids) != 7 {
		t.Errorf("batched inserts of retryable sessions: _ids %v, want 100..700", ids)
	}
}

// TestReplaySkipsServerNamespaces: config bookkeeping (sessions, caches) is left out,
// the data of ordinary databases is replayed.
func TestReplaySkipsServerNamespaces(t *testing.T) {
	b := newBed(t)
	st := b.mustReplay(ReplayOptions{}, tools(t, "config_skips")...)
	if got := strings.Join(b.collections(), ","); got != "c1" {
		t.Errorf("collections: %s, want only c1 (from db3)", got)
	}
	if st.Skipped == 0 {
		t.Error("nothing counted as skipped")
	}
}

func TestReplayRenameIsIdempotent(t *testing.T) {
	b := newBed(t)
	entries := []bson.Raw{
		op(1, "c", "src.$cmd", ejson(t, `{"create": "a"}`), nil),
		op(2, "i", "src.a", ejson(t, `{"_id": 1, "v": "a"}`), nil),
		op(3, "i", "src.b", ejson(t, `{"_id": 2, "v": "b"}`), nil),
		op(4, "c", "src.$cmd", ejson(t, `{"renameCollection": "src.a", "to": "src.b", "dropTarget": true}`), nil),
		op(5, "i", "src.b", ejson(t, `{"_id": 3, "v": "after"}`), nil),
	}
	want := []bson.Raw{ejson(t, `{"_id": 1, "v": "a"}`), ejson(t, `{"_id": 3, "v": "after"}`)}
	b.mustReplay(ReplayOptions{}, entries...)
	equalDocs(t, b.docs("b"), want)
	b.mustReplay(ReplayOptions{}, entries...)
	equalDocs(t, b.docs("b"), want)
	if got := strings.Join(b.collections(), ","); got != "b" {
		t.Errorf("collections: %s", got)
	}
}

func TestReplayRenameAcrossSelectionRefused(t *testing.T) {
	b := newBed(t)
	only := func(_ context.Context, ns string) (string, bool, error) {
		if ns == "src.a" {
			return b.mongo.DB + ".a", true, nil
		}
		return "", false, nil
	}
	_, err := b.replay(ReplayOptions{Target: only},
		op(4, "c", "src.$cmd", ejson(t, `{"renameCollection": "src.a", "to": "src.b"}`), nil))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "src.a") || !strings.Contains(err.Error(), "1700000000,4") {
		t.Errorf("got %v", err)
	}
}

func TestReplayLimitAndOrder(t *testing.T) {
	b := newBed(t)
	r := b.replayer(ReplayOptions{Limit: optime.Timestamp{T: 1700000000, I: 3}})
	for i := uint32(1); i <= 5; i++ {
		doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: int32(i)}})
		if err := r.Apply(ctxT(t), op(i, "i", "src.c", doc, nil)); err != nil {
			t.Fatal(err)
		}
		if want := i >= 3; r.done != want {
			t.Errorf("after entry %d: done = %v", i, r.done)
		}
	}
	st, err := r.Close(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.docs("c")); n != 2 || !st.LimitReached || st.Last != (optime.Timestamp{T: 1700000000, I: 2}) {
		t.Errorf("limit 3 (exclusive): %d documents, stats %+v", n, st)
	}
	_, err = b.replay(ReplayOptions{}, op(5, "i", "src.c", idDoc(5), nil), op(4, "i", "src.c", idDoc(4), nil))
	if !errors.Is(err, ErrOrder) || !strings.Contains(err.Error(), "1700000000,4") {
		t.Errorf("out of order: got %v", err)
	}
}

func TestReplayTargetFilter(t *testing.T) {
	b := newBed(t)
	onlyA := func(_ context.Context, ns string) (string, bool, error) {
		_, coll := splitNS(ns)
		return b.mongo.DB + ".renamed_" + coll, coll == "a", nil
	}
	st := b.mustReplay(ReplayOptions{Target: onlyA},
		op(1, "i", "src.a", idDoc(1), nil),
		op(2, "i", "src.b", idDoc(1), nil),
		op(3, "c", "src.$cmd", ejson(t, `{"drop": "b"}`), nil),
	)
	if got := strings.Join(b.collections(), ","); got != "renamed_a" {
		t.Errorf("collections: %s", got)
	}
	if st.Skipped != 2 || st.Inserts != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// TestReplayDefersIndexesToCatalog: with a catalog, index entries change the catalog,
// not the server, and Build creates what remains.
func TestReplayDefersIndexesToCatalog(t *testing.T) {
	b := newBed(t)
	cat := NewIndexCatalog()
	target := b.mongo.DB + ".coll1"
	if err := cat.Add(target, ejson(t, `{"v": 2, "key": {"_id": 1}, "name": "_id_"}`), ejson(t, `{"v": 2, "key": {"old": 1}, "name": "old_1"}`)); err != nil {
		t.Fatal(err)
	}
	entries := append(tools(t, "collMod_indexUniqueness"),
		ejson(t, `{"ts": {"$timestamp": {"t": 1800000000, "i": 1}}, "op": "c", "ns": "mongodump_test_db.$cmd", "o": {"dropIndexes": "coll1", "index": "old_1"}}`))
	b.mustReplay(ReplayOptions{Indexes: cat}, entries...)
	if got := strings.Join(b.indexNames("coll1"), ","); got != "_id_" {
		t.Errorf("indexes on the server during the replay: %s", got)
	}
	specs := map[string]bson.D{}
	for _, s := range cat.specsOf(target) {
		specs[specName(s)] = s
	}
	if len(specs) != 4 || specs["old_1"] != nil {
		t.Fatalf("catalog: %v", cat.specsOf(target))
	}
	has := func(name, key string) bool {
		for _, e := range specs[name] {
			if e.Key == key {
				return true
			}
		}
		return false
	}
	if !has("b_1", "hidden") || !has("c_1", "expireAfterSeconds") || has("a_1", "unique") || has("a_1", "v") {
		t.Errorf("catalog specs after the collMods: %v", specs)
	}
	// FerretDB v1 knows neither hidden, prepareUnique nor TTL indexes: build a catalog it can.
	plain := NewIndexCatalog()
	if err := plain.Add(target, ejson(t, `{"v": 2, "key": {"c": 1.0}, "name": "c_1", "unique": true}`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // twice: the second finds it there
		if err := plain.Build(ctxT(t), b.mongo.Client, target); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(b.indexNames("coll1"), ","); got != "_id_,c_1" {
		t.Errorf("after Build: %s", got)
	}
}
