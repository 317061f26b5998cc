package oplog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/internal/testenv"
)

// benchDoc is an order-like document of about 250 bytes.
func benchDoc(i int) bson.D {
	return bson.D{{Key: "_id", Value: int32(i)}, {Key: "customer", Value: fmt.Sprintf("customer-%05d", i%997)},
		{Key: "date", Value: bson.DateTime(1_700_000_000_000 + int64(i)*1000)}, {Key: "total", Value: float64(i%5000) / 7},
		{Key: "items", Value: bson.A{bson.D{{Key: "sku", Value: fmt.Sprintf("sku-%06d", i)}, {Key: "qty", Value: int32(i % 9)}}}},
		{Key: "note", Value: "an order placed through the shop, with a short note of about this size"}}
}

func insertEntries(n int) []bson.Raw {
	out := make([]bson.Raw, n)
	for i := range n {
		raw, _ := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}, {Key: "t", Value: int64(1)},
			{Key: "v", Value: int64(2)}, {Key: "op", Value: "i"}, {Key: "ns", Value: "src.c"}, {Key: "o", Value: benchDoc(i)},
			{Key: "wall", Value: bson.DateTime(1700000000000)}})
		out[i] = raw
	}
	return out
}

func timeReplay(b *testing.B, client *mongo.Client, db string, entries []bson.Raw, opts ReplayOptions) time.Duration {
	opts.Target = func(_ context.Context, ns string) (string, bool, error) {
		_, coll := splitNS(ns)
		return db + "." + coll, true, nil
	}
	start := time.Now()
	r := NewReplayer(client, opts)
	for _, e := range entries {
		if err := r.Apply(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := r.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkReplayInsertRate compares, in one run against the test server, the replay of
// an insert-heavy oplog (10,000 inserts) with the server's own batched insert rate
// (InsertMany of 1,000 documents at a time, the same documents) and with an apply that
// sends one write per entry (what mongorestore's one applyOps per entry amounts to), on
// 1,000 entries: as one plain insert each (the cheapest single write, "one_by_one") and
// as the replay's own write with batches of one (a replace-upsert, which FerretDB v1
// makes far slower than an insert). Reported: entries or documents per second, ratios.
func BenchmarkReplayInsertRate(b *testing.B) {
	m := testenv.NewMongo(b)
	const n, slow = 10000, 1000
	entries := insertEntries(n)
	docs := make([]any, n)
	for i := range docs {
		docs[i] = benchDoc(i)
	}
	var insert, replay, oneByOne, replayOne time.Duration
	for i := 0; b.Loop(); i++ {
		db := m.Client.Database(m.DB)
		_ = db.Drop(context.Background())
		start := time.Now()
		for from := 0; from < n; from += 1000 {
			if _, err := db.Collection("inserted").InsertMany(context.Background(), docs[from:from+1000], options.InsertMany().SetOrdered(false)); err != nil {
				b.Fatal(err)
			}
		}
		insert += time.Since(start)
		replay += timeReplay(b, m.Client, m.DB, entries, ReplayOptions{})
		start = time.Now()
		for _, d := range docs[:slow] {
			if _, err := db.Collection("single").InsertOne(context.Background(), d); err != nil {
				b.Fatal(err)
			}
		}
		oneByOne += time.Since(start)
		_ = db.Collection("c").Drop(context.Background())
		replayOne += timeReplay(b, m.Client, m.DB, entries[:slow], ReplayOptions{BatchOps: 1})
	}
	rate := func(count int, d time.Duration) float64 { return float64(count*b.N) / d.Seconds() }
	b.ReportMetric(rate(n, insert), "insert_docs/s")
	b.ReportMetric(rate(n, replay), "replay_entries/s")
	b.ReportMetric(rate(slow, oneByOne), "one_by_one_entries/s")
	b.ReportMetric(rate(slow, replayOne), "replay_batch1_entries/s")
	b.ReportMetric(rate(n, replay)/rate(n, insert), "replay/insert")
	b.ReportMetric(rate(n, replay)/rate(slow, oneByOne), "replay/one_by_one")
}

// BenchmarkReplayUpdateRate replays 2,000 $v:2 updates of documents the replay does not
// know yet (half of them in the operator form, half as diffs the replay applies after
// reading the documents in batches), beside the server's own rate for the same number of
// updates by _id sent as bulk writes of 50 (FerretDB v1 takes at most 50 per command).
func BenchmarkReplayUpdateRate(b *testing.B) {
	m := testenv.NewMongo(b)
	const n = 2000
	docs := make([]any, n)
	entries := make([]bson.Raw, n)
	for i := range n {
		docs[i] = benchDoc(i)
		diff := bson.D{{Key: "u", Value: bson.D{{Key: "total", Value: float64(i)}}}}
		if i%2 == 1 {
			diff = bson.D{{Key: "sitems", Value: bson.D{{Key: "a", Value: true}, {Key: "s0", Value: bson.D{{Key: "u", Value: bson.D{{Key: "qty", Value: int32(1)}}}}}}}}
		}
		entries[i], _ = bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}}, {Key: "op", Value: "u"},
			{Key: "ns", Value: "src.c"}, {Key: "o", Value: bson.D{{Key: "$v", Value: int32(2)}, {Key: "diff", Value: diff}}},
			{Key: "o2", Value: bson.D{{Key: "_id", Value: int32(i)}}}})
	}
	var replay, server time.Duration
	for b.Loop() {
		for _, name := range []string{"c", "direct"} {
			coll := m.Client.Database(m.DB).Collection(name)
			_ = coll.Drop(context.Background())
			for from := 0; from < n; from += 1000 {
				if _, err := coll.InsertMany(context.Background(), docs[from:from+1000]); err != nil {
					b.Fatal(err)
				}
			}
		}
		replay += timeReplay(b, m.Client, m.DB, entries, ReplayOptions{})
		start := time.Now()
		for from := 0; from < n; from += 50 {
			var models []mongo.WriteModel
			for i := from; i < from+50; i++ {
				models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: int32(i)}}).
					SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "total", Value: float64(i)}}}}))
			}
			if _, err := m.Client.Database(m.DB).Collection("direct").BulkWrite(context.Background(), models); err != nil {
				b.Fatal(err)
			}
		}
		server += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/replay.Seconds(), "replay_entries/s")
	b.ReportMetric(float64(n*b.N)/server.Seconds(), "server_updates/s")
	b.ReportMetric(server.Seconds()/replay.Seconds(), "replay/server")
}

// BenchmarkSelectorKeep is the capture's own work per entry (parse, refusal checks,
// selection), on the 872 entries of the recorded time-series oplog: what the capture adds
// to the server's range read.
func BenchmarkSelectorKeep(b *testing.B) {
	entries := readBSONFile(b, "testdata/mongo-tools/timeseries_oplog.bson")
	var size int64
	for _, e := range entries {
		size += int64(len(e))
	}
	for name, sel := range map[string]*Selector{
		"all":      NewSelector(CaptureOptions{}),
		"database": NewSelector(CaptureOptions{Databases: []string{"timeseries_test"}, Namespaces: func(string) bool { return true }}),
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range entries {
					if _, keep, err := sel.Keep(e); err != nil || !keep {
						b.Fatal(keep, err)
					}
				}
			}
		})
	}
}

// BenchmarkApplyDiff is the replay's own work for a $v:2 diff it applies itself: the
// 872 time-series bucket updates of the recorded oplog, onto their buckets.
func BenchmarkApplyDiff(b *testing.B) {
	buckets := map[string]bson.Raw{}
	for _, d := range readBSONFile(b, "testdata/mongo-tools/timeseries_buckets.bson") {
		buckets[idKey(d.Lookup("_id"))] = d
	}
	var writes []*write
	var size int64
	for _, raw := range readBSONFile(b, "testdata/mongo-tools/timeseries_oplog.bson") {
		e, _ := parseEntry(raw)
		w, err := updateWrite(&e)
		if err != nil {
			b.Fatal(err)
		}
		writes = append(writes, w)
		size += int64(len(buckets[w.key]))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, w := range writes {
			if _, err := applyDiff(buckets[w.key], w.diff); err != nil {
				b.Fatal(err)
			}
		}
	}
}
