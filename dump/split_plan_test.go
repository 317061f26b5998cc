package dump

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/internal/testenv"
)

// explainAnswers are recorded answers to the explain of an _id range (rangesUseIndex):
// FerretDB v1.24 (SQLite) and v2.7 from the test servers, MongoDB's in the shape its
// documentation shows (no mongod runs here), clustered collections' too.
var explainAnswers = map[string]struct {
	answer  string
	indexed bool
}{
	"FerretDB v1": {`{"queryPlanner": {"Plan": ["id=2 parent=0 notused=0 detail=SCAN x_fd0c5087"]}, "explainVersion": "1",
		"filterPushdown": false, "sortPushdown": false, "limitPushdown": false, "ok": 1.0}`, false},
	"FerretDB v2": {`{"queryPlanner": {"Plan": {"Total Cost": 8.18, "Plan Rows": 1.0, "Node Type": "Index Scan",
		"Scan Direction": "Forward", "Index Cond": "((shard_key_value = '2'::bigint) AND (object_id OPERATOR(documentdb_core.>=) 'BSONHEX0b00'::documentdb_core.bson))",
		"Index Name": "_id_", "Relation Name": "documents_2"}}, "explainVersion": "1", "ok": 1.0}`, true},
	"FerretDB v2 seq scan": {`{"queryPlanner": {"Plan": {"Node Type": "Seq Scan", "Relation Name": "documents_2"}}, "ok": 1.0}`, false},
	"MongoDB": {`{"explainVersion": "1", "queryPlanner": {"namespace": "db.c", "winningPlan": {"stage": "FETCH",
		"inputStage": {"stage": "IXSCAN", "keyPattern": {"_id": 1}, "indexName": "_id_",
		"indexBounds": {"_id": ["[ObjectId('000000000000000000000000'), ObjectId('000000000000000000000001'))"]}}},
		"rejectedPlans": []}, "ok": 1}`, true},
	"MongoDB clustered":       {`{"queryPlanner": {"winningPlan": {"stage": "CLUSTERED_IXSCAN", "direction": "forward"}}, "ok": 1}`, true},
	"MongoDB 8 express":       {`{"queryPlanner": {"winningPlan": {"stage": "EXPRESS_IXSCAN", "keyPattern": "{ _id: 1 }"}}, "ok": 1}`, true},
	"MongoDB collection scan": {`{"queryPlanner": {"winningPlan": {"stage": "COLLSCAN", "direction": "forward"}}, "ok": 1}`, false},
}

// TestPlanUsesIndex reads each recorded explain answer as its server meant it.
func TestPlanUsesIndex(t *testing.T) {
	for name, c := range explainAnswers {
		var doc bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(c.answer), false, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := planUsesIndex(doc); got != c.indexed {
			t.Errorf("%s: index %v, want %v", name, got, c.indexed)
		}
	}
}

// TestSplitKeys reads a splitVector answer in the shape MongoDB gives it (no test server
// has the command: FerretDB v1 and v2 answer CommandNotFound).
func TestSplitKeys(t *testing.T) {
	var res bson.Raw
	answer := `{"timeMillis": 12, "splitKeys": [{"_id": {"$oid": "5f0000000000000000000000"}}, {"_id": {"$oid": "600000000000000000000000"}}, {"_id": 17}], "ok": 1}`
	if err := bson.UnmarshalExtJSON([]byte(answer), false, &res); err != nil {
		t.Fatal(err)
	}
	keys, err := splitKeys(res)
	if err != nil || len(keys) != 3 || keys[0].Type != bson.TypeObjectID || keys[2].Int32() != 17 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if _, err := splitKeys(bson.Raw(must(bson.Marshal(bson.D{{Key: "ok", Value: 1}})))); err == nil {
		t.Error("an answer without splitKeys was taken")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestUnsplittable: views, capped collections, time-series buckets, collections with a
// default collation and those below the threshold (or with splitting off, or one cursor
// in all) are read by one cursor.
func TestUnsplittable(t *testing.T) {
	big := collectionInfo{entry: archive.Entry{DB: "d", Collection: "c"}, size: 1 << 30, estimate: 1e6}
	opts := DumpOptions{Parallel: 4, SplitBytes: 1 << 20}
	if why := unsplittable(big, opts); why != "" {
		t.Fatalf("a large plain collection is not split: %s", why)
	}
	cases := map[string]func(c *collectionInfo, o *DumpOptions){
		"view":        func(c *collectionInfo, o *DumpOptions) { c.view = true },
		"capped":      func(c *collectionInfo, o *DumpOptions) { c.capped = true },
		"time-series": func(c *collectionInfo, o *DumpOptions) { c.entry.Type = "timeseries" },
		"collation":   func(c *collectionInfo, o *DumpOptions) { c.collated = true },
		"small":       func(c *collectionInfo, o *DumpOptions) { c.size = 1 << 19 },
		"off":         func(c *collectionInfo, o *DumpOptions) { o.SplitBytes = 0 },
		"parallel 1":  func(c *collectionInfo, o *DumpOptions) { o.Parallel = 1 },
		"few":         func(c *collectionInfo, o *DumpOptions) { c.estimate = 5 },
	}
	for name, change := range cases {
		c, o := big, opts
		change(&c, &o)
		if why := unsplittable(c, o); why == "" {
			t.Errorf("%s: split", name)
		}
	}
}

// TestSplitOnlyWhereRangesUseAnIndex: without the tests' override a dump splits exactly
// when the server's plan reads an _id range from an index (FerretDB v2: it splits; the
// test bed, FerretDB v1: one cursor, with a debug line saying why), and either way the
// archive holds every document.
func TestSplitOnlyWhereRangesUseAnIndex(t *testing.T) {
	m := testenv.NewMongo(t)
	loadSplitData(t, m.Client, m.DB, false)
	indexed, err := rangesUseIndex(ctxT(t), m.Client.Database(m.DB).Collection("oids"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	opts := splitOpts(m.DB, logs)
	opts.splitWithoutIndex = false
	_, stats := dumpToBuffer(t, m.Client, opts)
	split := len(logs.lines("reading in ranges"))
	oneCursor := len(logs.lines("read with one cursor: the server does not read _id ranges from an index, so ranges would each scan the whole collection"))
	switch {
	case indexed && (split != len(splitCollections) || oneCursor != 0):
		t.Errorf("ranges use an index, but %d collections were split and %d read by one cursor", split, oneCursor)
	case !indexed && (split != 0 || oneCursor != len(splitCollections)):
		t.Errorf("ranges scan the collection, but %d collections were split and %d read by one cursor", split, oneCursor)
	}
	if stats.Documents != 4*2000+7 {
		t.Errorf("%d documents dumped", stats.Documents)
	}
	t.Logf("ranges use an index: %v; split %d, one cursor %d", indexed, split, oneCursor)
}
