package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
)

// benchOrder is an order-like document of about 250 bytes (oplog's replay benchmarks use
// the same shape).
func benchOrder(i int) bson.D {
	return bson.D{{Key: "_id", Value: int32(i)}, {Key: "customer", Value: fmt.Sprintf("customer-%05d", i%997)},
		{Key: "date", Value: bson.DateTime(1_700_000_000_000 + int64(i)*1000)}, {Key: "total", Value: float64(i%5000) / 7},
		{Key: "items", Value: bson.A{bson.D{{Key: "sku", Value: fmt.Sprintf("sku-%06d", i)}, {Key: "qty", Value: int32(i % 9)}}}},
		{Key: "note", Value: "an order placed through the shop, with a short note of about this size"}}
}

// BenchmarkRestoreToTimeReplayRate measures whether restore --to-time replays at the
// replay engine's rate: 10,000 insert entries archived in four zstd chunks are replayed
// by the whole CLI (plan, the check of every chunk before writing, the base backup's
// restore, the replay of the chunks as they stream from S3), beside the bare
// oplog.Replayer applying the same entries from memory into another database, in the
// same run; "append" restores into a new database (every chunk is checked before the
// restore writes), "drop" with --drop over the database restored before (chunks read once,
// into temporary collections, then swapped in). Reported: entries per second of each and
// their ratio.
func BenchmarkRestoreToTimeReplayRate(b *testing.B) {
	m := testenv.NewMongo(b)
	bk := testenv.NewBucket(b)
	tb := &bed{mongo: m, bucket: bk, env: env{"MONGO_URL": m.URL, "MONGO_DATABASE": m.DB, "S3_ENDPOINT": bk.Endpoint,
		"S3_BUCKET": bk.Name, "S3_ACCESS_KEY": bk.AccessKey, "S3_SECRET_KEY": bk.SecretKey, "S3_REGION": bk.Region, "LOG_FORMAT": "json"}}
	ctx := context.Background()
	if _, err := m.Client.Database(m.DB).Collection("base").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		b.Fatal(err)
	}
	if code := run(ctx, []string{"backup"}, tb.env.lookup, &syncBuffer{}, &syncBuffer{}); code != 0 {
		b.Fatal("backup failed")
	}
	const n, perChunk = 10000, 2500
	first := uint32(time.Now().Add(time.Minute).Unix()) // after the base backup's consistent point
	entries := make([]bson.Raw, n)
	for i := range entries {
		raw, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: first + uint32(i/1000), I: uint32(i%1000 + 1)}},
			{Key: "t", Value: int64(1)}, {Key: "v", Value: int64(2)}, {Key: "op", Value: "i"}, {Key: "ns", Value: m.DB + ".orders"},
			{Key: "o", Value: benchOrder(i)}, {Key: "wall", Value: bson.DateTime(int64(first) * 1000)}})
		if err != nil {
			b.Fatal(err)
		}
		entries[i] = raw
	}
	store := openTestStore(b, tb)
	since := optime.Timestamp{T: first - 3600}
	for from := 0; from < n; from += perChunk {
		until := entryTS(entries[from+perChunk-1])
		writeTestChunk(b, store, since, until, entries[from:from+perChunk])
		since = until
	}
	target := fmt.Sprintf("%d,%d", since.T, since.I)
	b.Run("append", func(b *testing.B) { benchRestoreToTime(b, tb, entries, target, false) })
	b.Run("drop", func(b *testing.B) { benchRestoreToTime(b, tb, entries, target, true) })
}

// benchRestoreToTime times the CLI's restore --to-time (into a new database each time, or
// with --drop over the same one) and the bare replayer on the same entries.
func benchRestoreToTime(b *testing.B, tb *bed, entries []bson.Raw, target string, drop bool) {
	ctx, m, n := context.Background(), tb.mongo, len(entries)
	var cli, bare time.Duration
	for i := 0; b.Loop(); i++ {
		to := fmt.Sprintf("%s_pitr%d", m.DB, i)
		args := []string{"restore", "--to-time", target, "--ns-from", m.DB + ".*", "--ns-to", to + ".*"}
		if drop {
			to = m.DB + "_pitrdrop"
			args = []string{"restore", "--to-time", target, "--drop", "--ns-from", m.DB + ".*", "--ns-to", to + ".*"}
		}
		var stderr syncBuffer
		start := time.Now()
		code := run(ctx, args, tb.env.lookup, &syncBuffer{}, &stderr)
		cli += time.Since(start)
		if code != 0 || !strings.Contains(stderr.String(), fmt.Sprintf(`"chunk_entries":%d`, n)) {
			b.Fatalf("restore --to-time: exit %d\n%s", code, stderr.String())
		}
		bareDB := fmt.Sprintf("%s_bare%d", m.DB, i)
		start = time.Now()
		r := oplog.NewReplayer(m.Client, oplog.ReplayOptions{Target: func(_ context.Context, ns string) (string, bool, error) {
			return bareDB + strings.TrimPrefix(ns, m.DB), true, nil
		}})
		for _, e := range entries {
			if err := r.Apply(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := r.Close(ctx); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(start)
		if !drop {
			_ = m.Client.Database(to).Drop(ctx)
		}
		_ = m.Client.Database(bareDB).Drop(ctx)
	}
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(cli), "restore_to_time_entries/s")
	b.ReportMetric(rate(bare), "replayer_entries/s")
	b.ReportMetric(rate(cli)/rate(bare), "restore/replayer")
	if drop {
		_ = m.Client.Database(m.DB + "_pitrdrop").Drop(ctx)
	}
}
