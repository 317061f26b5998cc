package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	s3store "github.com/mongostash/mongostash/storage/s3"
)

// catalogBenchChunks is how many chunks BenchmarkOplogCatalog archives:
// MONGOSTASH_BENCH_CHUNKS, else 10,000 (ten weeks at the default 10-minute interval).
func catalogBenchChunks(b *testing.B) int {
	if v := os.Getenv("MONGOSTASH_BENCH_CHUNKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			b.Fatalf("MONGOSTASH_BENCH_CHUNKS=%q is not a number of at least 10", v)
		}
		return n
	}
	return 10000
}

// BenchmarkOplogCatalog measures what planning costs with a long archive: a versitygw of
// its own holding catalogBenchChunks oplog chunks of one chain, ten minutes apart, and
// seven daily base backups, the newest a few chunks before the chain's end. Through a
// proxy that counts the S3 requests, the CLI (in-process) runs `list --windows`, `restore
// --to-time latest --dry-run` (which reads the base backup and the chunks it replays) and
// `prune --dry-run --keep-last 3`, each through the oplog index ("index") and, side by
// side in the same run, without it ("whole": every manifest read, as before the index).
// Reported: requests per run beside the time.
// Run: go test -run '^$' -bench OplogCatalog -benchtime 3x ./cmd/mongostash/
func BenchmarkOplogCatalog(b *testing.B) {
	env, counter, store := catalogBenchBed(b)
	head, ok := readAll(b, store, catalog.IndexHeadKey(""))
	if !ok {
		b.Fatal("no oplog index was written")
	}
	cmds := []struct {
		name string
		args []string
	}{
		{"ListWindows", []string{"list", "--windows"}},
		{"RestoreToTimeDryRun", []string{"restore", "--to-time", "latest", "--dry-run"}},
		{"PruneDryRun", []string{"prune", "--dry-run", "--keep-last", "3"}},
	}
	for _, mode := range []string{"index", "whole"} {
		if mode == "whole" {
			if err := store.Delete(context.Background(), catalog.IndexHeadKey("")); err != nil {
				b.Fatal(err)
			}
		} else if _, err := store.Put(context.Background(), catalog.IndexHeadKey(""), bytes.NewReader(head)); err != nil {
			b.Fatal(err)
		}
		for _, c := range cmds {
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				var requests, lists int64
				for b.Loop() {
					counter.Reset()
					var out, errOut syncBuffer
					if code := run(context.Background(), c.args, env.lookup, &out, &errOut); code != 0 {
						b.Fatalf("%v: exit %d\n%s%s", c.args, code, out.String(), errOut.String())
					}
					requests += counter.Total()
					lists += counter.ByMethod()["LIST"]
				}
				b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
				b.ReportMetric(float64(lists)/float64(b.N), "lists/op")
			})
		}
	}
}

// catalogBenchBed is the benchmark's store: the chunks, the backups and the index.
func catalogBenchBed(b *testing.B) (env, *testenv.RequestCounter, storage.Store) {
	b.Helper()
	_, endpoint := testenv.PrivateVersityGW(b)
	bucket, err := testenv.CreateBucket(endpoint, testenv.UniqueName("catalog-bench-"))
	if err != nil {
		b.Fatal(err)
	}
	counter := testenv.CountRequests(b, bucket.Endpoint)
	m := testenv.NewMongo(b)
	e := env{"MONGO_URL": m.URL, "MONGO_DATABASE": m.DB, "S3_ENDPOINT": counter.URL, "S3_BUCKET": bucket.Name,
		"S3_ACCESS_KEY": bucket.AccessKey, "S3_SECRET_KEY": bucket.SecretKey, "S3_REGION": bucket.Region, "LOG_FORMAT": "json"}
	store, err := s3store.New(context.Background(), s3store.Config{Endpoint: bucket.Endpoint, Bucket: bucket.Name,
		Region: bucket.Region, AccessKey: bucket.AccessKey, SecretKey: bucket.SecretKey, Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Client.Database(m.DB).Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		b.Fatal(err)
	}
	if code := run(ctx, []string{"backup"}, e.lookup, &syncBuffer{}, &syncBuffer{}); code != 0 {
		b.Fatal("backup failed")
	}
	olderBackups(b, store, 6)
	n := catalogBenchChunks(b)
	first := uint32(time.Now().Add(-time.Duration(n-5) * 10 * time.Minute).Unix())
	writeBenchChain(b, store, first, n)
	if _, err := catalog.UpdateOplogIndex(ctx, store, "", catalog.IndexUpdate{WrittenBy: "benchmark"}); err != nil {
		b.Fatal(err)
	}
	return e, counter, store
}

// olderBackups copies the one backup under the names of n daily backups before it.
func olderBackups(b *testing.B, store storage.Store, n int) {
	b.Helper()
	ctx := context.Background()
	c, err := catalog.ReadCatalog(ctx, store, "")
	if err != nil || len(c.Backups) != 1 {
		b.Fatalf("want one backup: %+v %v", c, err)
	}
	bk := c.Backups[0]
	data, _ := readAll(b, store, bk.Key)
	for i := 1; i <= n; i++ {
		at := bk.Time.Add(-time.Duration(i) * 24 * time.Hour)
		key := catalog.BackupKey("", at, bk.Compression, bk.Encryption)
		if _, err := store.Put(ctx, key, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		m := *bk.Manifest
		m.StartedAt, m.FinishedAt = at, at.Add(time.Second)
		if err := catalog.WriteManifest(ctx, store, key, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// writeBenchChain stores n chunks of one chain from first on, each holding one no-op
// entry ten minutes after the one before, 16 at a time.
func writeBenchChain(b *testing.B, store storage.Store, first uint32, n int) {
	b.Helper()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				since := optime.Timestamp{T: first + uint32(i)*600, I: 1}
				until := optime.Timestamp{T: first + uint32(i+1)*600, I: 1}
				raw, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: until.T, I: until.I}}, {Key: "t", Value: int64(1)},
					{Key: "v", Value: int64(2)}, {Key: "op", Value: "n"}, {Key: "ns", Value: ""}, {Key: "o", Value: bson.D{{Key: "msg", Value: "periodic noop"}}},
					{Key: "wall", Value: bson.DateTime(int64(until.T) * 1000)}})
				if err != nil {
					b.Error(err)
					return
				}
				writeTestChunk(b, store, since, until, []bson.Raw{raw})
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

func readAll(b *testing.B, store storage.Store, key string) ([]byte, bool) {
	b.Helper()
	r, err := store.Get(context.Background(), key)
	if err != nil {
		return nil, false
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		b.Fatal(fmt.Errorf("read %s: %w", key, err))
	}
	return data, true
}
