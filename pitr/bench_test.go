package pitr

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	s3store "github.com/mongostash/mongostash/storage/s3"
)

// benchEntries is how many oplog entries the benchmark archives per run.
const benchEntries = 30000

// BenchmarkArchiverCatchUp archives an oplog of benchEntries inserts (documents of about
// 300 bytes, like small application records) from a FerretDB v1 into a real S3 server
// (versitygw) with the defaults (zstd, 16 MiB chunks): a start with a backlog, from New to
// the last chunk stored. It reports entries archived per second, the S3 requests per run
// (through a counting proxy: the lease, the chunks, their manifests, the index) and the
// peak RSS of this process during the runs (VmHWM, reset before them; the servers are
// other processes).
// Run: go test -run '^$' -bench Archiver -benchmem ./pitr/
func BenchmarkArchiverCatchUp(b *testing.B) {
	m := testenv.NewMongoWithOplog(b)
	fillOplog(b, m, 0, benchEntries)
	st, counter := benchCountedStore(b)
	newest := benchNewest(b, m)
	debug.FreeOSMemory() // the setup's garbage returned to the system: the peak is the runs'
	testenv.ResetPeakRSS(b)
	var entries, chunks int64
	counter.Reset()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := range b.N {
		opts := Options{Store: st, Prefix: fmt.Sprintf("bench-%d/", i), Poll: 20 * time.Millisecond, Interval: time.Hour}
		a, err := New(context.Background(), m.Client, opts)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		for a.Status().ReadUpTo.Before(newest) { // then cancelling it writes the rest
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		entries += a.Status().Entries
		chunks += a.Status().Chunks
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(entries)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(counter.Total())/float64(b.N), "requests/op")
	b.ReportMetric(float64(chunks)/float64(b.N), "chunks/op")
	// What the archiver itself can do, whatever the server: entries per second of this
	// process's CPU (the driver's decoding included; FerretDB's scans are not).
	b.ReportMetric(float64(entries)/cpu.Seconds(), "entries/cpu-s")
	b.ReportMetric(float64(testenv.PeakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkArchiverKeepsUp: the archiver runs (defaults but a 1 s poll) while a writer
// inserts benchEntries documents as fast as FerretDB takes them; from the first write
// until the archiver has read the last one. It reports entries archived per second over
// that time, the writer's rate, how long after the last write the archiver had read it
// (catch-up), the largest lag seen between the newest entry written and what the archiver
// had read, and the peak RSS (writer included: it runs in this process). The
// time excludes New and the shutdown; the oplog query of each round reads the whole
// oplog on FerretDB, so the figure falls as the oplog grows (b.N rounds of writes).
func BenchmarkArchiverKeepsUp(b *testing.B) {
	m := testenv.NewMongoWithOplog(b)
	st := benchStore(b)
	debug.FreeOSMemory() // the setup's garbage returned to the system: the peak is the runs'
	testenv.ResetPeakRSS(b)
	var entries int64
	var maxLag, elapsed, writing, catchUp time.Duration
	for i := range b.N {
		a, err := New(context.Background(), m.Client, Options{Store: st, Prefix: fmt.Sprintf("steady-%d/", i)})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		start := time.Now()
		fillOplog(b, m, (i+1)*benchEntries, benchEntries)
		written := time.Now()
		writing += written.Sub(start)
		newest := benchNewest(b, m)
		for a.Status().ReadUpTo.Before(newest) {
			if s := a.Status(); !s.ReadUpTo.IsZero() {
				maxLag = max(maxLag, time.Duration(newest.T-min(newest.T, s.ReadUpTo.T))*time.Second)
			}
			time.Sleep(20 * time.Millisecond)
		}
		elapsed += time.Since(start)
		catchUp += time.Since(written)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		entries += benchEntries
	}
	b.ReportMetric(float64(entries)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(entries)/writing.Seconds(), "written-entries/s")
	b.ReportMetric(catchUp.Seconds()/float64(b.N), "catch-up-s")
	b.ReportMetric(maxLag.Seconds(), "max-lag-s")
	b.ReportMetric(float64(testenv.PeakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// benchStore is a bucket on a versitygw of the benchmark's own, through the S3 store.
func benchStore(b *testing.B) *s3store.Store {
	st, _ := benchCountedStore(b)
	return st
}

// benchCountedStore is benchStore through a proxy that counts the S3 requests.
func benchCountedStore(b *testing.B) (*s3store.Store, *testenv.RequestCounter) {
	b.Helper()
	_, endpoint := testenv.PrivateVersityGW(b)
	bucket, err := testenv.CreateBucket(endpoint, testenv.UniqueName("pitr-bench-"))
	if err != nil {
		b.Fatal(err)
	}
	counter := testenv.CountRequests(b, bucket.Endpoint)
	st, err := s3store.New(context.Background(), s3store.Config{Endpoint: counter.URL, Bucket: bucket.Name,
		Region: bucket.Region, AccessKey: bucket.AccessKey, SecretKey: bucket.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	return st, counter
}

// fillOplog inserts n documents of about 300 bytes (ids from first on), 1000 at a time.
func fillOplog(b *testing.B, m *testenv.Mongo, first, n int) {
	b.Helper()
	c := m.Client.Database(m.DB).Collection("bench")
	pad := strings.Repeat("x", 250)
	for from := first; from < first+n; from += 1000 {
		docs := make([]any, 0, 1000)
		for i := from; i < min(from+1000, first+n); i++ {
			docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: "user" + strconv.Itoa(i)}, {Key: "pad", Value: pad}, {Key: "n", Value: int64(i)}})
		}
		if _, err := c.InsertMany(context.Background(), docs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchNewest(b *testing.B, m *testenv.Mongo) optime.Timestamp {
	b.Helper()
	var doc bson.Raw
	err := m.Client.Database("local").Collection("oplog.rs").FindOne(context.Background(), bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "ts", Value: -1}})).Decode(&doc)
	if err != nil {
		b.Fatal(err)
	}
	ts, _ := oplog.EntryTimestamp(doc)
	return ts
}
