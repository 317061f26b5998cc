package dump

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
)

// BenchmarkCaptureOverhead measures what the oplog adds to a backup whose oplog is 10 % of
// its data, side by side in one run: a dump of about 20 MB without the oplog; the same
// dump with Oplog on (its fixed costs: finding the start and the end, the overflow
// checks); and the copy of a captured range of about 2 MB (the writes of a busy dump,
// made here before the copy so that the dump itself runs alone). Reported: the
// overhead as a fraction of the plain dump's time.
//
// FerretDB v1 has no index on the oplog's ts and no cheap $natural edge: every edge read
// and range read scans its whole oplog table, where MongoDB reads one document for an
// edge and only the range for a copy. So that the figures stand for the capture's own
// work rather than for the size of the test server's oplog, the data is loaded before the
// oplog exists, and the oplog is recreated for each round: it then holds about what
// MongoDB would read.
func BenchmarkCaptureOverhead(b *testing.B) {
	m := testenv.NewMongo(b)
	ctx := context.Background()
	_ = m.Client.Database("local").Collection("oplog.rs").Drop(ctx)
	pad := strings.Repeat("d", 380)
	coll := m.Client.Database(m.DB).Collection("data")
	var docs []any
	for i := range 50000 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}})
		if len(docs) == 1000 {
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
			docs = nil
		}
	}
	side := m.Client.Database(testenv.UniqueName("side"))
	b.Cleanup(func() { _ = side.Drop(context.Background()) })
	opts := DumpOptions{Databases: []string{m.DB}, ToolVersion: "bench"}
	var plain, withOplog, copying time.Duration
	var dataBytes, oplogBytes int64
	for i := 0; b.Loop(); i++ {
		_ = m.Client.Database("local").Collection("oplog.rs").Drop(ctx)
		oplogOnB(b, m)
		if _, err := side.Collection("seed").InsertOne(ctx, bson.D{}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		st, err := Dump(ctx, m.Client, io.Discard, opts)
		if err != nil {
			b.Fatal(err)
		}
		plain += time.Since(start)
		dataBytes = st.Bytes

		start = time.Now()
		o := opts
		o.Oplog = true
		if _, err := Dump(ctx, m.Client, io.Discard, o); err != nil {
			b.Fatal(err)
		}
		withOplog += time.Since(start)

		d, n := timeCapture(b, m.Client, side, i, pad)
		copying += d
		oplogBytes = n
	}
	b.ReportMetric(float64(oplogBytes)/float64(dataBytes), "oplog/data")
	b.ReportMetric(float64(withOplog-plain)/float64(plain), "fixed_overhead")
	b.ReportMetric(float64(copying)/float64(plain), "copy_overhead")
	b.ReportMetric(float64(withOplog-plain+copying)/float64(plain), "capture_overhead")
}

// timeCapture writes 5,000 changes (about 2 MB of entries) inside a capture's range and
// times the copy of that range into an archive's oplog namespace.
func timeCapture(b *testing.B, client *mongo.Client, side *mongo.Database, round int, pad string) (time.Duration, int64) {
	ctx := context.Background()
	c, err := oplog.BeginCapture(ctx, client, oplog.CaptureOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for from := 0; from < 5000; from += 1000 {
		var docs []any
		for i := from; i < from+1000; i++ {
			docs = append(docs, bson.D{{Key: "_id", Value: int32(round*5000 + i)}, {Key: "pad", Value: pad}})
		}
		if _, err := side.Collection("w").InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := c.End(ctx); err != nil {
		b.Fatal(err)
	}
	aw := archive.NewWriterSize(io.Discard, dumpChunkSize)
	if err := aw.WritePrelude(archive.Prelude{Header: archive.Header{ServerVersion: "7.0.0"}, Entries: []archive.Entry{oplogEntry}}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	nw, err := aw.Open(ctx, "", "oplog")
	if err != nil {
		b.Fatal(err)
	}
	st, err := c.Copy(ctx, nw)
	if err != nil {
		b.Fatal(err)
	}
	if err := nw.Close(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), st.Bytes
}

func oplogOnB(b *testing.B, m *testenv.Mongo) {
	b.Helper()
	err := m.Client.Database("local").RunCommand(context.Background(), bson.D{{Key: "create", Value: "oplog.rs"},
		{Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 30)}}).Err()
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		b.Fatal(err)
	}
}
