package oplog

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type diffVectors struct {
	Cases []struct {
		Name            string
		Pre, Diff, Post json.RawMessage
	}
	Errors []struct {
		Name      string
		Pre, Diff json.RawMessage
	}
}

func loadDiffVectors(t testing.TB) diffVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/server/diff_applier.json")
	if err != nil {
		t.Fatal(err)
	}
	var v diffVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 || len(v.Errors) == 0 {
		t.Fatal("no vectors")
	}
	return v
}

// TestApplyDiffServerVectors checks the applier against the server's own unit tests:
// the same post-image, byte for byte, once and when applied again (a replay applies
// entries the data may already reflect).
func TestApplyDiffServerVectors(t *testing.T) {
	for _, c := range loadDiffVectors(t).Cases {
		t.Run(c.Name, func(t *testing.T) {
			pre, diff, want := rawJSON(t, c.Pre), rawJSON(t, c.Diff), rawJSON(t, c.Post)
			got, err := applyDiff(pre, diff)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
			again, err := applyDiff(got, diff)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, want) {
				t.Fatalf("applied twice: got %s\nwant %s", again, want)
			}
		})
	}
}

func TestApplyDiffRefusesMalformed(t *testing.T) {
	for _, c := range loadDiffVectors(t).Errors {
		t.Run(c.Name, func(t *testing.T) {
			_, err := applyDiff(rawJSON(t, c.Pre), rawJSON(t, c.Diff))
			if !errors.Is(err, ErrBadDiff) {
				t.Fatalf("got %v, want ErrBadDiff", err)
			}
		})
	}
}

// TestApplyDiffBounds: a few bytes of diff that ask for more than a document can hold —
// an array of 2^40 or 20 million elements, an index that far out, arrays that each fit
// but not together, nesting deeper than the server nests — are refused as malformed,
// quickly and without allocating more than about one document (found by FuzzDiff: before
// the bounds, the 20-million-element diff built a 189 MB document and allocated 1 GiB).
func TestApplyDiffBounds(t *testing.T) {
	// Extended JSON nests no deeper than 200 levels: the deep pair is built by hand.
	deepPre, deepDiff := ejson(t, `{"a": 1}`), ejson(t, `{"u": {"a": 2}}`)
	for range maxDiffDepth + 1 {
		deepPre, deepDiff = nestDoc("a", deepPre), nestDoc("sa", deepDiff)
	}
	pad := `{"a": true, "l": 1500000}` // 12.9 MB of nulls: one fits a document, two do not
	for _, c := range []struct {
		name      string
		pre, diff bson.Raw
		want      string
	}{
		{"huge length", ejson(t, `{"a": []}`), ejson(t, `{"sa": {"a": true, "l": {"$numberLong": "1099511627776"}}}`), "array length"},
		{"long padding", ejson(t, `{"a": []}`), ejson(t, `{"sa": {"a": true, "l": 20000000}}`), "array length"},
		{"far index", ejson(t, `{"a": []}`), ejson(t, `{"sa": {"a": true, "u20000000": 1}}`), "array index"},
		{"padding past the document", ejson(t, `{"a": [], "b": []}`), ejson(t, `{"sa": `+pad+`, "sb": `+pad+`}`), "larger than"},
		{"too deep", deepPre, deepDiff, "levels deep"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pre, diff := c.pre, c.diff
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := applyDiff(pre, diff)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrBadDiff) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrBadDiff saying %q", err, c.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4*maxDocumentBytes { // about one document, and what -race adds
				t.Errorf("refusing it allocated %d MiB", n>>20)
			}
		})
	}
}

// nestDoc is {key: doc}.
func nestDoc(key string, doc bson.Raw) bson.Raw {
	out, start := beginDoc(nil)
	out = appendValue(out, key, bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc})
	return endDoc(out, start)
}

// TestApplyDiffTimeSeriesBuckets replays the 872 $v:2 updates a MongoDB 5.0 server wrote
// while a time-series collection was dumped (mongo-tools' ts_dump_with_oplog) onto the
// dumped buckets. mongorestore's own test of that dump, replayed by the server, finds
// 2164 measurements; so must the buckets computed here. The buckets must also stay well
// formed (data columns keyed 0..n-1 in order, control.max._id the last _id), and
// replaying everything a second time must change nothing.
func TestApplyDiffTimeSeriesBuckets(t *testing.T) {
	buckets := map[string]bson.Raw{}
	var order []string
	for _, b := range readBSONFile(t, "testdata/mongo-tools/timeseries_buckets.bson") {
		k := idKey(b.Lookup("_id"))
		buckets[k] = b
		order = append(order, k)
	}
	entries := readBSONFile(t, "testdata/mongo-tools/timeseries_oplog.bson")
	if len(buckets) != 10 || len(entries) != 872 {
		t.Fatalf("testdata: %d buckets, %d entries", len(buckets), len(entries))
	}
	replay := func() {
		for _, raw := range entries {
			e, err := parseEntry(raw)
			if err != nil {
				t.Fatal(err)
			}
			w, err := updateWrite(&e)
			if err != nil {
				t.Fatal(err)
			}
			if w.kind != wDiff {
				t.Fatalf("entry at %v: want a diff applied by the replay, got kind %d", e.TS, w.kind)
			}
			if buckets[w.key], err = applyDiff(buckets[w.key], w.diff); err != nil {
				t.Fatalf("entry at %v: %v", e.TS, err)
			}
		}
	}
	replay()
	total := 0
	snapshot := map[string]string{}
	for _, k := range order {
		total += checkBucket(t, buckets[k])
		snapshot[k] = string(buckets[k])
	}
	if total != 2164 {
		t.Errorf("measurements after the replay: got %d, want 2164 (mongorestore's result)", total)
	}
	replay()
	for _, k := range order {
		if string(buckets[k]) != snapshot[k] {
			t.Errorf("bucket %s changed when the updates were applied a second time", buckets[k].Lookup("_id"))
		}
	}
}

// checkBucket checks a time-series bucket's shape and returns its measurement count.
func checkBucket(t *testing.T, b bson.Raw) int {
	t.Helper()
	data := b.Lookup("data").Document()
	var n int
	for _, col := range mustElements(data) {
		keys := mustElements(col.Value().Document())
		for i, el := range keys {
			if el.Key() != arrayKey(i) {
				t.Fatalf("bucket %s column %s: key %d is %q", b.Lookup("_id"), col.Key(), i, el.Key())
			}
		}
		if col.Key() == "ts" {
			n = len(keys)
		}
	}
	ids := mustElements(data.Lookup("_id").Document())
	last := ids[len(ids)-1].Value()
	if max := b.Lookup("control", "max", "_id"); !max.Equal(last) {
		t.Errorf("bucket %s: control.max._id %s, last data._id %s", b.Lookup("_id"), max, last)
	}
	return n
}
