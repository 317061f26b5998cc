package oplog

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/internal/testenv"
)

// captureBenchEntries is how many entries BenchmarkCaptureAfterLastCollection puts in the
// oplog: MONGOSTASH_BENCH_OPLOG_ENTRIES, else 20,000 (the case was about 160,000,
// which takes minutes to write on FerretDB v1).
func captureBenchEntries(b *testing.B) int {
	if v := os.Getenv("MONGOSTASH_BENCH_OPLOG_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("MONGOSTASH_BENCH_OPLOG_ENTRIES=%q is not a positive number", v)
		}
		return n
	}
	return 20000
}

// BenchmarkCaptureAfterLastCollection measures what a `backup --oplog` spends on its
// oplog after the last collection was read — the capture's End and Copy — on a FerretDB v1
// whose oplog holds captureBenchEntries inserts, of which the range captured is the last
// 1,000. It reports the seconds that takes, the queries of local.oplog.rs it sends (a
// command monitor counts them) and the entries captured.
// Run: go test -run '^$' -bench CaptureAfterLastCollection ./oplog/
func BenchmarkCaptureAfterLastCollection(b *testing.B) {
	n := captureBenchEntries(b)
	var queries int64
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.DatabaseName == "local" && (e.CommandName == "find" || e.CommandName == "getMore" || e.CommandName == "aggregate") {
			queries++
		}
	}}
	_, url := testenv.PrivateFerretDB(b)
	client, err := mongo.Connect(options.Client().ApplyURI(url).SetMonitor(monitor))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	ctx := context.Background()
	if err := client.Database("local").RunCommand(ctx, bson.D{{Key: "create", Value: "oplog.rs"}, {Key: "capped", Value: true},
		{Key: "size", Value: int64(4 << 30)}}).Err(); err != nil {
		b.Fatal(err)
	}
	coll := client.Database("capturebench").Collection("c")
	insert := func(from, to int) {
		for i := from; i < to; i += 1000 {
			docs := make([]any, 0, 1000)
			for j := i; j < min(i+1000, to); j++ {
				docs = append(docs, benchDoc(j))
			}
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
		}
	}
	insert(0, n-1000)
	var total time.Duration
	var entries int64
	queries = 0
	for i := range b.N {
		cp, err := BeginCapture(ctx, client, CaptureOptions{})
		if err != nil {
			b.Fatal(err)
		}
		base := n + i*1000
		insert(base, base+1000) // the writes during the dump
		q0, start := queries, time.Now()
		if _, err := cp.End(ctx); err != nil {
			b.Fatal(err)
		}
		st, err := cp.Copy(ctx, &memWriter{})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		entries += st.Entries
		b.ReportMetric(float64(queries-q0), "queries/op")
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/capture")
	b.ReportMetric(float64(entries)/float64(b.N), "entries/capture")
}
