package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage/s3"
	"github.com/mongostash/mongostash/stream"
)

// BenchmarkVerify decodes the in-memory plain archive and checks every CRC: the client's
// decode ceiling, with no server and no decompression.
func BenchmarkVerify(b *testing.B) {
	ds := benchData(b, 1)
	a := inMemory(b, ds)
	b.SetBytes(int64(len(a.plain)))
	b.ReportAllocs()
	for b.Loop() {
		vs, err := dump.Verify(context.Background(), bytes.NewReader(a.plain), nil)
		if err != nil {
			b.Fatal(err)
		}
		if vs.Documents != ds.docs {
			b.Fatalf("verify saw %d documents, want %d", vs.Documents, ds.docs)
		}
	}
}

// BenchmarkRestoreDryRun is a restore's client side without a server: zstd decompression,
// archive decoding, CRCs and batching of the in-memory zstd archive.
func BenchmarkRestoreDryRun(b *testing.B) {
	ds := benchData(b, 1)
	a := inMemory(b, ds)
	b.SetBytes(int64(len(a.plain)))
	b.ReportAllocs()
	for b.Loop() {
		plain, _, err := stream.Decompress(bytes.NewReader(a.zstd))
		if err != nil {
			b.Fatal(err)
		}
		st, err := dump.Restore(context.Background(), nil, plain, dump.RestoreOptions{DryRun: true})
		plain.Close()
		if err != nil {
			b.Fatal(err)
		}
		if st.Inserted != ds.docs {
			b.Fatalf("dry run counted %d documents, want %d", st.Inserted, ds.docs)
		}
	}
}

// BenchmarkRawInsert is the floor of a restore: the archive's documents inserted with the
// driver's unordered InsertMany, batches of 1,000, four workers per collection and every
// collection at once, into a fresh database with no indexes and no options.
func BenchmarkRawInsert(b *testing.B) {
	ds := benchData(b, 1)
	docs, err := inMemory(b, ds).documents()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(ds.bytes)
	b.ReportAllocs()
	for b.Loop() {
		target := testenv.UniqueName("benchi")
		g, ctx := errgroup.WithContext(context.Background())
		for coll, docs := range docs {
			batches := make(chan []any)
			g.Go(func() error {
				defer close(batches)
				for i := 0; i < len(docs); i += 1000 {
					batch := make([]any, 0, 1000)
					for _, d := range docs[i:min(i+1000, len(docs))] {
						batch = append(batch, d)
					}
					select {
					case batches <- batch:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			})
			for range 4 {
				g.Go(func() error {
					c := ds.client.Database(target).Collection(coll)
					for batch := range batches {
						if _, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false)); err != nil {
							return fmt.Errorf("insert into %s: %w", coll, err)
						}
					}
					return nil
				})
			}
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		dropDB(b, ds.client, target)
	}
	b.ReportMetric(float64(ds.docs)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkRestorePipeline is what `mongostash restore` does, in this process, so that
// -cpuprofile and -memprofile see it: the base data set's zstd backup read from the bucket,
// decompressed and restored into a fresh database, indexes included. allocs/doc is every
// allocation of the restore (the S3 client's and the driver's included) per restored
// document.
func BenchmarkRestorePipeline(b *testing.B) {
	ds := benchData(b, 1)
	s := storeBackup(b, ds, &stored1xOnce)
	store := s.bed.store(b)
	b.SetBytes(ds.bytes)
	b.ReportAllocs()
	before := selfCPU(b)
	var mallocs uint64
	for b.Loop() {
		target := testenv.UniqueName("benchp")
		dropAtExit(target)
		m0 := mallocCount()
		st, err := restoreFromStore(store, s.key, ds, dump.RestoreOptions{Renamer: renamer(b, ds.db, target)})
		mallocs += mallocCount() - m0
		if err != nil {
			b.Fatal(err)
		}
		if st.Inserted != ds.docs {
			b.Fatalf("restored %d documents, want %d", st.Inserted, ds.docs)
		}
		dropDB(b, ds.client, target)
	}
	reportInProcess(b, ds, selfCPU(b)-before)
	b.ReportMetric(float64(mallocs)/float64(b.N)/float64(ds.docs), "allocs/doc")
}

func restoreFromStore(store *s3.Store, key string, ds *dataset, opts dump.RestoreOptions) (dump.RestoreStats, error) {
	ctx := context.Background()
	r, err := store.Get(ctx, key)
	if err != nil {
		return dump.RestoreStats{}, err
	}
	defer r.Close()
	plain, _, err := stream.Decompress(r)
	if err != nil {
		return dump.RestoreStats{}, err
	}
	defer plain.Close()
	return dump.Restore(ctx, ds.client, plain, opts)
}

func renamer(b *testing.B, from, to string) *ns.Renamer {
	b.Helper()
	r, err := ns.NewRenamer([]string{from + ".*"}, []string{to + ".*"})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// stored is a zstd backup of a data set in a bucket.
type stored struct {
	bed *bed
	key string
}

var (
	stored1xOnce benchOnce[*stored]
	stored5xOnce benchOnce[*stored]
	seedFileOnce benchOnce[string]
)

// storeBackup makes, once and untimed, the backup the restore benchmarks read.
func storeBackup(b *testing.B, ds *dataset, once *benchOnce[*stored]) *stored {
	b.Helper()
	return once.get(b, func() (*stored, error) {
		s := &stored{bed: newBed(b, ds)}
		r := runMongostash(b, s.bed.env, "backup")
		key, ok := r.logValue(b, "backup complete", "key").(string)
		if !ok {
			return nil, errors.New("the backup logged no key")
		}
		s.key = key
		return s, nil
	})
}

// seedFile is the base data set dumped once, untimed, by mongodump to a local plain
// archive, as the seed's backup.py leaves it: what mongorestore restores side by side.
func seedFile(b *testing.B, ds *dataset, mongodump string) string {
	b.Helper()
	return seedFileOnce.get(b, func() (string, error) {
		dir, err := os.MkdirTemp("", "mongostash-bench-dump-")
		if err != nil {
			return "", err
		}
		cleanupMu.Lock()
		cleanupFiles = append(cleanupFiles, dir)
		cleanupMu.Unlock()
		file := filepath.Join(dir, "seed.dump")
		runChild(b, nil, mongodump, "--uri="+ds.url, "--db="+ds.db, "--archive="+file, "--quiet")
		return file, nil
	})
}

// BenchmarkRestore runs `mongostash restore` of the base data set's zstd backup (made once,
// untimed) into a fresh database each time. With mongorestore on PATH, each iteration also
// runs `mongorestore --archive` of the same database dumped by mongodump to a local file,
// and the ratios of the medians are reported. Targets (issue 13, on FerretDB v2):
// wall-ratio ≤ 0.7, cpu-ratio ≤ 1.0, peak-RSS-MiB ≤ 200.
func BenchmarkRestore(b *testing.B) {
	ds := benchData(b, 1)
	s := storeBackup(b, ds, &stored1xOnce)
	var file string
	mongorestore := stockTool(b, "mongorestore")
	if mongodump := stockTool(b, "mongodump"); mongorestore != "" && mongodump != "" {
		file = seedFile(b, ds, mongodump)
	} else {
		mongorestore = ""
	}
	ours, stock := benchRestore(b, ds, s, mongorestore, file)
	reportOurs(b, ours, ds)
	reportVersus(b, "mongorestore", ours, stock)
	rss1x["restore"] = ours.peakRSS()
}

// BenchmarkRestore5x is BenchmarkRestore at five times the data, mongostash only: its peak
// RSS should stay within 15 % of the base size's (rss-vs-1x, when both ran in one process).
func BenchmarkRestore5x(b *testing.B) {
	ds := benchData(b, 5)
	s := storeBackup(b, ds, &stored5xOnce)
	ours, _ := benchRestore(b, ds, s, "", "")
	reportOurs(b, ours, ds)
	if base := rss1x["restore"]; base > 0 {
		b.ReportMetric(ours.peakRSS()/base, "rss-vs-1x")
	}
}

func benchRestore(b *testing.B, ds *dataset, s *stored, mongorestore, file string) (ours, stock series) {
	b.SetBytes(ds.bytes)
	for i := 0; b.Loop(); i++ {
		sides := []func(){
			func() {
				target := testenv.UniqueName("benchr")
				dropAtExit(target)
				r := runMongostash(b, s.bed.env, "restore", s.key, "--ns-from", ds.db+".*", "--ns-to", target+".*")
				if docs := r.logNumber(b, "restore complete", "documents"); int64(docs) != ds.docs {
					b.Fatalf("restore inserted %.0f documents, want %d", docs, ds.docs)
				}
				printRun(b, "mongostash", i, r)
				ours = append(ours, r)
				dropDB(b, ds.client, target)
			},
			func() {
				if mongorestore == "" {
					return
				}
				target := testenv.UniqueName("benchm")
				dropAtExit(target)
				r := runChild(b, nil, mongorestore, "--uri="+ds.url, "--archive="+file, "--nsFrom="+ds.db+".*", "--nsTo="+target+".*", "--quiet")
				if n := countDocs(b, ds, target); n != ds.docs {
					b.Fatalf("mongorestore restored %d documents, want %d", n, ds.docs)
				}
				printRun(b, "mongorestore", i, r)
				stock = append(stock, r)
				dropDB(b, ds.client, target)
			},
		}
		sides[i%2]()
		sides[1-i%2]()
	}
	return ours, stock
}

// countDocs counts the documents of every collection of db (untimed).
func countDocs(b *testing.B, ds *dataset, db string) int64 {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	var n int64
	for _, c := range ds.colls {
		k, err := ds.client.Database(db).Collection(c).CountDocuments(context.Background(), bson.D{})
		if err != nil {
			b.Fatal(err)
		}
		n += k
	}
	return n
}
