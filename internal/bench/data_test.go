package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/sync/errgroup"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/stream"
)

// dataset is a loaded database and what a raw scan found in it.
type dataset struct {
	url    string
	client *mongo.Client
	db     string
	colls  []string
	docs   int64
	bytes  int64 // BSON bytes of all documents
}

var (
	data1xOnce   benchOnce[*dataset]
	data5xOnce   benchOnce[*dataset]
	skewed1xOnce benchOnce[*dataset]
	skewed5xOnce benchOnce[*dataset]
	archOnce     benchOnce[*memArchive]
)

// benchDocs is the size of the base data set: MONGOSTASH_BENCH_DOCS, default 100,000.
func benchDocs(b *testing.B) int {
	b.Helper()
	s := os.Getenv("MONGOSTASH_BENCH_DOCS")
	if s == "" {
		return 100_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		b.Fatalf("MONGOSTASH_BENCH_DOCS=%q: want a number of documents ≥ 1000", s)
	}
	return n
}

// benchData returns the data set of scale × benchDocs documents, loading it on first use.
func benchData(b *testing.B, scale int) *dataset {
	b.Helper()
	once := &data1xOnce
	if scale != 1 {
		once = &data5xOnce
	}
	return loadData(b, once, "bench", scale*benchDocs(b), sample.LoadBench)
}

// skewedData is benchData's skewed variant (sample.LoadBenchSkewed, one collection holding
// most of the bytes): benchDocs documents, about 200 MB, at scale 1.
func skewedData(b *testing.B, scale int) *dataset {
	b.Helper()
	once := &skewed1xOnce
	if scale != 1 {
		once = &skewed5xOnce
	}
	return loadData(b, once, "benchs", scale*benchDocs(b), sample.LoadBenchSkewed)
}

func loadData(b *testing.B, once *benchOnce[*dataset], prefix string, n int,
	load func(context.Context, *mongo.Client, string, int) (sample.Counts, error)) *dataset {
	b.Helper()
	client, url := benchClient(b)
	return once.get(b, func() (*dataset, error) {
		ds := &dataset{url: url, client: client, db: testenv.UniqueName(fmt.Sprintf("%s%dk", prefix, n/1000))}
		dropAtExit(ds.db)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		defer cancel()
		start := time.Now()
		if _, err := load(ctx, client, ds.db, n); err != nil {
			return nil, fmt.Errorf("load %d documents: %w", n, err)
		}
		load := time.Since(start)
		names, err := client.Database(ds.db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return nil, err
		}
		ds.colls = names
		start = time.Now()
		if ds.docs, ds.bytes, err = scan(ctx, ds, 1); err != nil {
			return nil, err
		}
		took := time.Since(start)
		fmt.Printf("# data set %s: %d documents, %.1f MB of BSON in %d collections; loaded in %s (%.0f docs/s), first scan %s (%.0f docs/s); load %s\n",
			ds.db, ds.docs, float64(ds.bytes)/1e6, len(ds.colls), load.Round(time.Millisecond), float64(ds.docs)/load.Seconds(),
			took.Round(time.Millisecond), float64(ds.docs)/took.Seconds(), loadAverage())
		return ds, nil
	})
}

// scan reads every collection of ds with a plain find, parallel collections at once, and
// returns the documents and bytes it saw. Nothing is decoded.
func scan(ctx context.Context, ds *dataset, parallel int) (docs, size int64, err error) {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, name := range ds.colls {
		g.Go(func() error {
			cur, err := ds.client.Database(ds.db).Collection(name).Find(gctx, bson.D{})
			if err != nil {
				return fmt.Errorf("find %s: %w", name, err)
			}
			defer cur.Close(context.WithoutCancel(gctx))
			var n, s int64
			for cur.Next(gctx) {
				n++
				s += int64(len(cur.Current))
			}
			if err := cur.Err(); err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			mu.Lock()
			docs, size = docs+n, size+s
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	return docs, size, err
}

// memArchive is the base data set as an in-memory archive, plain and zstd.
type memArchive struct {
	plain, zstd []byte
}

func inMemory(b *testing.B, ds *dataset) *memArchive {
	b.Helper()
	return archOnce.get(b, func() (*memArchive, error) {
		var buf bytes.Buffer
		if _, err := dump.Dump(context.Background(), ds.client, &buf, dump.DumpOptions{Databases: []string{ds.db}, ToolVersion: "bench"}); err != nil {
			return nil, err
		}
		a := &memArchive{plain: buf.Bytes()}
		var z bytes.Buffer
		zw, err := stream.Compress(&z, stream.Zstd, 0)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(a.plain); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		a.zstd = z.Bytes()
		return a, nil
	})
}

// documents returns the archive's documents by collection (copies: the reader reuses
// its buffer).
func (a *memArchive) documents() (map[string][]bson.Raw, error) {
	docs := map[string][]bson.Raw{}
	ar := archive.NewReader(bytes.NewReader(a.plain))
	for {
		rec, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if rec.Doc != nil {
			docs[rec.Collection] = append(docs[rec.Collection], bytes.Clone(rec.Doc))
		}
	}
}

// dropDB drops a benchmark's target database with the timer stopped.
func dropDB(b *testing.B, client *mongo.Client, db string) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := client.Database(db).Drop(ctx); err != nil {
		b.Fatalf("drop %s: %v", db, err)
	}
}
