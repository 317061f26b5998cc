package dump

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
)

// splitCollections are the collections of loadSplitData: one per kind of _id.
var splitCollections = []string{"oids", "ints", "strings", "mixed"}

// loadSplitData fills db with 2,000 documents in each of splitCollections: ObjectId,
// int32 and int64 (with NaN, infinities and a decimal where the server stores them),
// string and mixed _id values. The mixed ones are of every type an _id
// can have on the server: numbers of each type, strings, documents, binary data,
// ObjectIds, booleans, dates, timestamps, null — and, where the server stores them
// (limits.KnowsAllTypes), MinKey, MaxKey, NaN, ±Infinity, decimals, symbols and code.
func loadSplitData(t *testing.T, client *mongo.Client, db string, allTypes bool) {
	t.Helper()
	ctx := ctxT(t)
	rng := rand.New(rand.NewPCG(7, 8))
	pad := func(i int) string { return strings.Repeat("x", 50+i%200) }
	ids := map[string][]any{}
	for i := range 2000 {
		ids["oids"] = append(ids["oids"], bson.NewObjectIDFromTimestamp(time.Unix(1_600_000_000+int64(i)*977, 0)))
		if i%2 == 0 {
			ids["ints"] = append(ids["ints"], int32(i-1000))
		} else {
			ids["ints"] = append(ids["ints"], int64(i)<<33)
		}
		ids["strings"] = append(ids["strings"], fmt.Sprintf("k%05d-%s", (i*7919)%10007, []string{"a", "é", "Z", "✓"}[i%4]))
		ids["mixed"] = append(ids["mixed"], mixedID(i, rng))
	}
	ids["mixed"] = append(ids["mixed"], nil, true, false, bson.D{}, "", 0.5, int64(math.MaxInt64))
	if allTypes {
		dec, _ := bson.ParseDecimal128("12345.678")
		ids["mixed"] = append(ids["mixed"], bson.MinKey{}, bson.MaxKey{}, math.NaN(), math.Inf(-1), math.Inf(1), dec,
			bson.Symbol("a symbol"), bson.JavaScript("f()"), bson.CodeWithScope{Code: "g()", Scope: bson.D{{Key: "x", Value: 1}}})
		// Numbers only, so the numbers are always divided: NaN is read by its own query.
		ids["ints"] = append(ids["ints"], math.NaN(), math.Inf(-1), math.Inf(1), dec)
	}
	for _, c := range splitCollections {
		var docs []any
		for i, id := range ids[c] {
			docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "i", Value: int32(i)}, {Key: "pad", Value: pad(i)}})
		}
		if _, err := client.Database(db).Collection(c).InsertMany(ctx, docs); err != nil {
			t.Fatalf("load %s: %v", c, err)
		}
	}
}

// mixedID is an _id of one of the types every server stores, chosen by i.
func mixedID(i int, rng *rand.Rand) any {
	switch i % 10 {
	case 0:
		return int32(i)
	case 1:
		return int64(i) * 1_000_003
	case 2:
		return float64(i) + 0.25
	case 3:
		return fmt.Sprintf("s%06d", rng.IntN(1e6)) + fmt.Sprint(i)
	case 4:
		return bson.D{{Key: "k", Value: int32(i % 7)}, {Key: "n", Value: int32(i)}}
	case 5:
		return bson.Binary{Subtype: byte(i % 3), Data: []byte(fmt.Sprint(i))}
	case 6:
		return bson.NewObjectIDFromTimestamp(time.Unix(1_500_000_000+int64(i), 0))
	case 7:
		return bson.DateTime(int64(i)*86_400_000 - 1e12)
	case 8:
		return bson.Timestamp{T: uint32(1_600_000_000 + i), I: uint32(i)}
	}
	return bson.D{{Key: "a", Value: fmt.Sprint(i)}}
}

// logLines collects a JSON logger's lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the lines with message msg.
func (l *logLines) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// splitOpts dumps db with every collection split into four ranges (SplitBytes 1), on the
// test bed too (splitWithoutIndex: FerretDB v1 reads ranges without an index, so a dump
// would not split there).
func splitOpts(db string, logs *logLines) DumpOptions {
	return DumpOptions{Databases: []string{db}, Parallel: 4, SplitBytes: 1, splitWithoutIndex: true,
		ToolVersion: "test", Logger: logs.logger()}
}

// assertSplit fails unless every one of colls was read in ranges.
func assertSplit(t *testing.T, logs *logLines, db string, colls ...string) {
	t.Helper()
	split := map[string]string{}
	for _, l := range logs.lines("reading in ranges") {
		split[l["namespace"].(string)] = fmt.Sprintf("%v ranges, boundaries from %v", l["ranges"], l["boundaries_from"])
	}
	for _, c := range colls {
		if split[db+"."+c] == "" {
			t.Errorf("%s.%s was not read in ranges (split: %v)", db, c, split)
		}
	}
	t.Logf("split: %v", split)
}

// TestSplitDumpRestoresEveryIDType: collections of ObjectId, integer, string and mixed
// _id values, each read as four ranges and the rest at once, make an archive that verify
// reads (counts and CRCs) and that restores elsewhere to the source, byte for byte per
// document; progress counts each collection once, as one namespace.
func TestSplitDumpRestoresEveryIDType(t *testing.T) {
	m := testenv.NewMongo(t)
	limits := testenv.ServerLimits(t, m)
	loadSplitData(t, m.Client, m.DB, limits.KnowsAllTypes)
	ctx := ctxT(t)
	logs := &logLines{}
	opts := splitOpts(m.DB, logs)
	opts.Progress = &Progress{}
	data, stats := dumpToBuffer(t, m.Client, opts)
	assertSplit(t, logs, m.DB, splitCollections...)
	vs, err := Verify(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if vs.Documents != stats.Documents {
		t.Errorf("verify counted %d documents, the dump %d", vs.Documents, stats.Documents)
	}
	per := opts.Progress.PerNamespace()
	if len(per) != len(splitCollections) {
		t.Errorf("progress shows %d namespaces, want %d: %+v", len(per), len(splitCollections), per)
	}
	byNS := map[string]int64{}
	for _, s := range stats.Namespaces {
		byNS[s.Namespace] = s.Documents
	}
	for _, p := range per {
		if !p.Done || p.Documents != byNS[p.Namespace] {
			t.Errorf("progress of %s: %+v, dumped %d", p.Namespace, p, byNS[p.Namespace])
		}
	}
	target := restoreElsewhere(t, m, data)
	for _, c := range splitCollections {
		src, got := docsByID(t, m.Client.Database(m.DB).Collection(c)), docsByID(t, m.Client.Database(target).Collection(c))
		if diff := diffDocs(got, src); diff != "" {
			t.Errorf("%s: %d documents restored of %d: %s", c, len(got), len(src), diff)
		}
		if byNS[m.DB+"."+c] != int64(len(src)) {
			t.Errorf("%s: %d documents dumped of %d", c, byNS[m.DB+"."+c], len(src))
		}
	}
}

// restoreElsewhere restores an archive of m.DB into a fresh database and returns its name.
func restoreElsewhere(t *testing.T, m *testenv.Mongo, data []byte) string {
	t.Helper()
	target := testenv.UniqueName("r")
	t.Cleanup(func() { _ = m.Client.Database(target).Drop(context.Background()) })
	rn, err := ns.NewRenamer([]string{m.DB + ".*"}, []string{target + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctxT(t), m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	return target
}

// docsByID returns a collection's documents by their _id's type and bytes (rawDocs orders
// by the bytes alone, which values of different types can share).
func docsByID(t *testing.T, c *mongo.Collection) map[string]bson.Raw {
	t.Helper()
	out := map[string]bson.Raw{}
	for _, d := range rawDocs(t, c) {
		id := d.Lookup("_id")
		out[string(append([]byte{byte(id.Type)}, id.Value...))] = d
	}
	return out
}

// diffDocs describes how got differs from want ("" when equal, byte for byte).
func diffDocs(got, want map[string]bson.Raw) string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, "missing "+w.String())
		case !bytes.Equal(g, w):
			diffs = append(diffs, fmt.Sprintf("%s became %s", w, g))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "extra "+g.String())
		}
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

// TestSplitRangeKilledFailsDump: a range's cursor killed on the server mid-way (by another
// client, after its first batch) fails the whole dump with an error naming the range; the
// dump does not go on to finish the namespace as if it were complete.
func TestSplitRangeKilledFailsDump(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	var docs []any
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 2000 {
		blob := make([]byte, 10_000) // incompressible: collStats' size (the batch size) is the real one
		for k := range blob {
			blob[k] = byte(rng.Uint32())
		}
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "blob", Value: blob}})
	}
	if _, err := m.Client.Database(m.DB).Collection("big").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	opts := splitOpts(m.DB, logs)
	var once sync.Once
	var killErr error
	opts.rangeStarted = func(namespace string, id int64) {
		if id == 0 {
			return // the range came whole in its first batch: nothing left to kill
		}
		once.Do(func() {
			var res bson.Raw
			killErr = m.Client.Database(m.DB).RunCommand(context.Background(),
				bson.D{{Key: "killCursors", Value: "big"}, {Key: "cursors", Value: bson.A{id}}}).Decode(&res)
			if n, _ := res.Lookup("cursorsKilled").Array().Values(); len(n) != 1 {
				killErr = fmt.Errorf("cursor %d not killed: %s", id, res)
			}
		})
	}
	var buf bytes.Buffer
	_, err := Dump(ctx, m.Client, &buf, opts)
	if killErr != nil {
		t.Fatalf("killCursors: %v", killErr)
	}
	once.Do(func() { t.Fatal("no range had a cursor left to kill after its first batch") })
	assertSplit(t, logs, m.DB, "big")
	if err == nil {
		t.Fatal("the dump succeeded although a range's cursor was killed")
	}
	if !strings.Contains(err.Error(), "part ") || !strings.Contains(err.Error(), m.DB+".big") {
		t.Errorf("the error does not name the range: %v", err)
	}
	if len(logs.lines("dumped")) != 0 {
		t.Errorf("a namespace was finished: %v", logs.lines("dumped"))
	}
	t.Logf("dump failed: %v", err)
}

// TestStockMongorestoreReadsSplitArchive: stock mongorestore --archive restores an archive
// whose collections were read as ranges at once (their blocks interleaved, each
// namespace's CRC over its documents in stream order) to the source, byte for byte per
// document. It needs mongo-tools (PATH or /opt/mongo-tools/bin), not part of a fresh clone.
func TestStockMongorestoreReadsSplitArchive(t *testing.T) {
	mongorestore := testenv.StockTool(t, "mongorestore", "the stock-tool check of split archives")
	m := testenv.NewMongo(t)
	loadSplitData(t, m.Client, m.DB, testenv.ServerLimits(t, m).KnowsAllTypes)
	logs := &logLines{}
	data, _ := dumpToBuffer(t, m.Client, splitOpts(m.DB, logs))
	assertSplit(t, logs, m.DB, splitCollections...)
	target := testenv.UniqueName("m")
	t.Cleanup(func() { _ = m.Client.Database(target).Drop(context.Background()) })
	cmd := exec.Command(mongorestore, "--uri="+m.URL, "--archive", "--nsFrom="+m.DB+".*", "--nsTo="+target+".*")
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mongorestore: %v\n%s", err, out)
	}
	for _, c := range splitCollections {
		src, got := docsByID(t, m.Client.Database(m.DB).Collection(c)), docsByID(t, m.Client.Database(target).Collection(c))
		if diff := diffDocs(got, src); diff != "" {
			t.Errorf("%s: %d documents restored by mongorestore of %d: %s", c, len(got), len(src), diff)
		}
	}
}
