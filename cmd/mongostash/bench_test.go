package main

// Benchmarks of backup and restore against the test bed (issues 5 and 6, "Performance").
// They run only under `make bench` (go test -bench): every server, data set and binary
// they need is set up inside the Benchmark functions, never by TestMain or a test.
//
// What they measure, on a generated database of 50,000 varied documents (~15 MB of BSON:
// internal/sample, loaded once per benchmark process):
//
//   - BenchmarkRawScan: the official driver's plain find over every collection, natural
//     order, documents not decoded. This is the floor the server sets: no backup through
//     the wire protocol can read faster.
//   - BenchmarkDumpToDiscard: dump.Dump in this process into io.Discard, so the archive
//     writer's cost shows against the raw scan without compression, upload or a process.
//   - BenchmarkBackup/{zstd,gzip,none}: the real binary, `mongostash backup` as a child
//     process against FerretDB and versitygw, as cron runs it. Reported: wall time per
//     backup (ns/op), MB/s of BSON, the child's peak RSS (peak-RSS-MiB, from getrusage's
//     maxrss), the child's user+system CPU seconds per 100 MB of BSON dumped
//     (cpu-s/100MB), the stored object's size, and the CPU FerretDB spent meanwhile.
//   - BenchmarkBackup5x: the same at five times the data (250,000 documents, ~77 MB), to
//     check that peak RSS does not grow with the database (issue 5: within 10 %).
//   - BenchmarkCompress, BenchmarkVerify, BenchmarkRestoreDryRun: client-side ceilings over
//     an in-memory archive of the same data, with no server involved.
//   - BenchmarkRawInsert: unordered insertMany batches of the same documents, the floor
//     the server sets for a restore; BenchmarkRestorePipeline: dump.Restore in process;
//     BenchmarkRestore: `mongostash restore` of the zstd backup into a fresh database,
//     as a child process.
//
// The issues ask for ratios against mongodump --archive (+ upload) and mongorestore
// --archive, measured side by side. mongo-tools cannot be installed where these
// benchmarks were written (the module proxy refuses mongo-tools and there is no Debian
// package), so no side-by-side run exists here: the benchmarks report our own figures and
// the raw driver scan and insert speeds instead.
//
// Each child-process figure is per run of the binary; with -benchmem, B/op and allocs/op
// of those benchmarks count only this harness, not the child. The machine these were
// written on has two cores shared with other work, so compare medians of -count runs.
//
// The child runs a binary built like `make build` (no -race, CGO off), not the -race
// binary of the CLI tests, whose memory and CPU figures would mean nothing. With
// MONGOSTASH_TEST_MONGO_URL pointing at a shared server, the bench databases (names
// starting with "bench") stay behind; with the test bed they vanish with its data dir.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/stream"
)

// benchDocs is the size of the base data set; BenchmarkBackup5x uses five times as many.
const benchDocs = 50_000

// benchDataset is a loaded database and what a raw scan found in it.
type benchDataset struct {
	url    string
	client *mongo.Client
	db     string
	colls  []string
	docs   int64
	bytes  int64 // BSON bytes of all documents
}

// benchOnce caches one value across all the benchmarks of a process.
type benchOnce[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (o *benchOnce[T]) get(b *testing.B, f func() (T, error)) T {
	b.Helper()
	o.once.Do(func() { o.v, o.err = f() })
	if o.err != nil {
		b.Fatal(o.err)
	}
	return o.v
}

var (
	benchClientOnce benchOnce[*mongo.Client]
	benchBinOnce    benchOnce[string]
	bench1xOnce     benchOnce[*benchDataset]
	bench5xOnce     benchOnce[*benchDataset]
	benchArchOnce   benchOnce[*benchArchive]
	benchZstdOnce   benchOnce[*benchBackupObject]
)

// benchClient is one driver client for the whole process, connected to the test bed.
func benchClient(b *testing.B) (*mongo.Client, string) {
	b.Helper()
	url := testenv.MongoURL(b)
	c := benchClientOnce.get(b, func() (*mongo.Client, error) {
		return mongo.Connect(options.Client().ApplyURI(url).SetServerSelectionTimeout(20 * time.Second))
	})
	return c, url
}

// benchBinary builds mongostash like `make build` in the test binaries' directory, which
// TestMain's cleanup removes.
func benchBinary(b *testing.B) string {
	b.Helper()
	return benchBinOnce.get(b, func() (string, error) {
		dir, err := testBinDir()
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, "mongostash-bench")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=bench", "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build mongostash for the benchmarks: %v\n%s", err, out)
		}
		return bin, nil
	})
}

// benchData returns the data set of scale × benchDocs documents, loading it on first use.
func benchData(b *testing.B, scale int) *benchDataset {
	b.Helper()
	client, url := benchClient(b)
	once := &bench1xOnce
	if scale != 1 {
		once = &bench5xOnce
	}
	return once.get(b, func() (*benchDataset, error) {
		ds := &benchDataset{url: url, client: client, db: testenv.UniqueName(fmt.Sprintf("bench%dk", scale*benchDocs/1000))}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		start := time.Now()
		if _, err := sample.Load(ctx, client, ds.db, scale*benchDocs); err != nil {
			return nil, fmt.Errorf("load %d documents: %w", scale*benchDocs, err)
		}
		load := time.Since(start)
		names, err := client.Database(ds.db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return nil, err
		}
		ds.colls = names
		start = time.Now()
		if ds.docs, ds.bytes, err = benchScan(ctx, client, ds, 1); err != nil {
			return nil, err
		}
		scan := time.Since(start)
		// Printed rather than logged: b.Logf of a benchmark with sub-benchmarks shows only with -v.
		fmt.Printf("# data set %s: %d documents, %.1f MB of BSON in %d collections; loaded in %s (%.0f docs/s), first scan %s (%.0f docs/s)\n",
			ds.db, ds.docs, float64(ds.bytes)/1e6, len(ds.colls), load.Round(time.Millisecond), float64(ds.docs)/load.Seconds(),
			scan.Round(time.Millisecond), float64(ds.docs)/scan.Seconds())
		return ds, nil
	})
}

// benchScan reads every collection of ds with a plain find, parallel collections at once,
// and returns the documents and bytes it saw. Nothing is decoded.
func benchScan(ctx context.Context, client *mongo.Client, ds *benchDataset, parallel int) (docs, size int64, err error) {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, name := range ds.colls {
		g.Go(func() error {
			cur, err := client.Database(ds.db).Collection(name).Find(gctx, bson.D{})
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

// benchCPU is CPU time of this process (self) or of a test-bed server.
type benchCPU struct {
	self    time.Duration
	servers map[string]time.Duration // by command name: ferretdb, versitygw
}

func benchReadCPU(b *testing.B) benchCPU {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	c := benchCPU{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), servers: map[string]time.Duration{}}
	// The test-bed servers are children of this process (testenv starts them); their
	// CPU time is in /proc/PID/stat, in clock ticks of 1/100 s (USER_HZ on Linux).
	entries, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(raw)
		lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if lp < 0 || rp < lp {
			continue
		}
		comm, f := s[lp+1:rp], strings.Fields(s[rp+1:])
		if len(f) < 13 || f[1] != me || (comm != "ferretdb" && comm != "versitygw") {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		c.servers[comm] += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return c
}

// benchRunResult is what one run of the binary cost.
type benchRunResult struct {
	wall   time.Duration
	cpu    time.Duration // user + system of the child
	rssKiB int64         // the child's peak resident set (getrusage maxrss, KiB on Linux)
	ferret time.Duration // CPU FerretDB spent meanwhile
	logs   []map[string]any
}

// benchRun runs the binary with exactly the given environment (plus PATH and HOME), and
// fails the benchmark if it does not exit 0.
func benchRun(b *testing.B, e env, args ...string) benchRunResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, benchBinary(b), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.TempDir(), "LOG_FORMAT=json"}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	before := benchReadCPU(b)
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	after := benchReadCPU(b)
	if err != nil {
		b.Fatalf("mongostash %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	r := benchRunResult{
		wall:   wall,
		cpu:    cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssKiB: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss,
		ferret: after.servers["ferretdb"] - before.servers["ferretdb"],
	}
	sc := bufio.NewScanner(&stderr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			r.logs = append(r.logs, m)
		}
	}
	return r
}

// logValue returns a numeric field of the first log line with message msg.
func (r benchRunResult) logValue(b *testing.B, msg, field string) float64 {
	b.Helper()
	for _, m := range r.logs {
		if m["msg"] == msg {
			if v, ok := m[field].(float64); ok {
				return v
			}
		}
	}
	b.Fatalf("no %q with a numeric %q in the log", msg, field)
	return 0
}

// benchRuns gathers the runs of one benchmark and reports them once b.Loop is done (the
// first b.Loop call resets the timer and with it any metric reported earlier).
type benchRuns struct {
	runs []benchRunResult
}

func (rs *benchRuns) report(b *testing.B, ds *benchDataset) {
	b.Helper()
	var cpu, ferret time.Duration
	var peak int64
	for _, r := range rs.runs {
		cpu += r.cpu
		ferret += r.ferret
		peak = max(peak, r.rssKiB)
	}
	n := float64(len(rs.runs))
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	b.ReportMetric(cpu.Seconds()/n/(float64(ds.bytes)/100e6), "cpu-s/100MB")
	b.ReportMetric(ferret.Seconds()/n, "ferretdb-cpu-s/op")
	b.ReportMetric(float64(ds.docs)/(b.Elapsed().Seconds()/n), "docs/s")
}

// benchBed is a fresh bucket and the environment that points the binary at it and at ds.
func benchBed(b *testing.B, ds *benchDataset) (env, *testenv.Bucket) {
	b.Helper()
	bk := testenv.NewBucket(b)
	return env{
		"MONGO_URL":      ds.url,
		"MONGO_DATABASE": ds.db,
		"S3_ENDPOINT":    bk.Endpoint,
		"S3_BUCKET":      bk.Name,
		"S3_ACCESS_KEY":  bk.AccessKey,
		"S3_SECRET_KEY":  bk.SecretKey,
		"S3_REGION":      bk.Region,
	}, bk
}

// BenchmarkRawScan is the floor: the driver's plain find over every collection, one
// collection at a time (serial) and four at once as Dump does by default (parallel4).
func BenchmarkRawScan(b *testing.B) {
	ds := benchData(b, 1)
	for _, p := range []int{1, 4} {
		name := "serial"
		if p > 1 {
			name = fmt.Sprintf("parallel%d", p)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(ds.bytes)
			b.ReportAllocs()
			before := benchReadCPU(b)
			for b.Loop() {
				docs, _, err := benchScan(context.Background(), ds.client, ds, p)
				if err != nil {
					b.Fatal(err)
				}
				if docs != ds.docs {
					b.Fatalf("scan saw %d documents, want %d", docs, ds.docs)
				}
			}
			after := benchReadCPU(b)
			benchReportInProcess(b, ds, before, after)
		})
	}
}

// benchReportInProcess reports docs/s, the CPU this process spent per 100 MB of BSON and
// the CPU FerretDB spent per operation.
func benchReportInProcess(b *testing.B, ds *benchDataset, before, after benchCPU) {
	b.Helper()
	n := float64(b.N)
	b.ReportMetric(float64(ds.docs)*n/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric((after.self-before.self).Seconds()/n/(float64(ds.bytes)/100e6), "cpu-s/100MB")
	if f := after.servers["ferretdb"] - before.servers["ferretdb"]; f > 0 {
		b.ReportMetric(f.Seconds()/n, "ferretdb-cpu-s/op")
	}
}

// BenchmarkDumpToDiscard runs dump.Dump in this process into io.Discard: the scan plus
// the archive writer, with no compression, upload or child process.
func BenchmarkDumpToDiscard(b *testing.B) {
	ds := benchData(b, 1)
	b.SetBytes(ds.bytes)
	b.ReportAllocs()
	before := benchReadCPU(b)
	for b.Loop() {
		st, err := dump.Dump(context.Background(), ds.client, io.Discard, dump.DumpOptions{Databases: []string{ds.db}, ToolVersion: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if st.Documents != ds.docs {
			b.Fatalf("dumped %d documents, want %d", st.Documents, ds.docs)
		}
	}
	after := benchReadCPU(b)
	benchReportInProcess(b, ds, before, after)
}

// BenchmarkBackup runs `mongostash backup` with each compression against the 50,000-document
// database. Requirement (issue 5): peak-RSS-MiB ≤ 100 with the defaults (zstd).
func BenchmarkBackup(b *testing.B) {
	ds := benchData(b, 1)
	for _, comp := range []string{"zstd", "gzip", "none"} {
		b.Run(comp, func(b *testing.B) { benchBackup(b, ds, comp) })
	}
}

// BenchmarkBackup5x is BenchmarkBackup at five times the data (250,000 documents): peak
// RSS with the defaults must stay within 10 % of BenchmarkBackup/zstd's. "none" streams
// ~75 MB uncompressed, enough to fill several 16 MiB multipart buffers. Loading the
// 250,000 documents takes about 20 s on the test bed (FerretDB inserts ~13,000 docs/s
// there), so the full five times is used. The data has the sample's shape: one
// collection (orders) holds 94 % of the documents, so only one of the archive's
// per-namespace chunk buffers (16 MiB each, up to --parallel of them) ever fills, and
// even the zstd stream fits in the first multipart part; a database of several large
// collections, or a store slower than the dump, needs more memory than this measures.
func BenchmarkBackup5x(b *testing.B) {
	ds := benchData(b, 5)
	for _, comp := range []string{"zstd", "none"} {
		b.Run(comp, func(b *testing.B) { benchBackup(b, ds, comp) })
	}
}

func benchBackup(b *testing.B, ds *benchDataset, comp string) {
	e, _ := benchBed(b, ds)
	e["BACKUP_COMPRESSION"] = comp
	b.SetBytes(ds.bytes)
	var rs benchRuns
	var stored float64
	for b.Loop() {
		r := benchRun(b, e, "backup")
		if docs := r.logValue(b, "backup complete", "documents"); int64(docs) != ds.docs {
			b.Fatalf("backup wrote %.0f documents, want %d", docs, ds.docs)
		}
		stored = r.logValue(b, "backup complete", "size")
		rs.runs = append(rs.runs, r)
	}
	rs.report(b, ds)
	b.ReportMetric(stored/1e6, "stored-MB")
}

// benchArchive is the 50,000-document database as an in-memory archive, plain and zstd.
type benchArchive struct {
	plain, zstd []byte
	docs        map[string][]bson.Raw // by collection, for the raw insert floor
}

func benchInMemory(b *testing.B, ds *benchDataset) *benchArchive {
	b.Helper()
	return benchArchOnce.get(b, func() (*benchArchive, error) {
		var buf bytes.Buffer
		if _, err := dump.Dump(context.Background(), ds.client, &buf, dump.DumpOptions{Databases: []string{ds.db}, ToolVersion: "bench"}); err != nil {
			return nil, err
		}
		a := &benchArchive{plain: buf.Bytes(), docs: map[string][]bson.Raw{}}
		var z bytes.Buffer
		zw, err := stream.Compress(&z, catalog.Zstd, 0)
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
		ar := archive.NewReader(bytes.NewReader(a.plain))
		for {
			rec, err := ar.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if rec.Doc != nil {
				a.docs[rec.Collection] = append(a.docs[rec.Collection], bytes.Clone(rec.Doc))
			}
		}
		return a, nil
	})
}

// BenchmarkCompress is the compressor alone over the in-memory archive, the client CPU a
// backup spends on compression (MB/s of archive, on however many cores the encoder uses).
func BenchmarkCompress(b *testing.B) {
	a := benchInMemory(b, benchData(b, 1))
	for _, c := range []catalog.Compression{catalog.Zstd, catalog.Gzip} {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(int64(len(a.plain)))
			b.ReportAllocs()
			before := benchReadCPU(b)
			var out int64
			for b.Loop() {
				cw := &benchCountingWriter{}
				zw, err := stream.Compress(cw, c, 0)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := zw.Write(a.plain); err != nil {
					b.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
				out = cw.n
			}
			after := benchReadCPU(b)
			b.ReportMetric((after.self-before.self).Seconds()/float64(b.N)/(float64(len(a.plain))/100e6), "cpu-s/100MB")
			b.ReportMetric(float64(len(a.plain))/float64(out), "ratio")
		})
	}
}

type benchCountingWriter struct{ n int64 }

func (w *benchCountingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkVerify decodes the in-memory plain archive and checks every CRC: the client's
// decode ceiling, with no server and no decompression.
func BenchmarkVerify(b *testing.B) {
	ds := benchData(b, 1)
	a := benchInMemory(b, ds)
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
	a := benchInMemory(b, ds)
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

// benchDrop drops a restore's target database with the timer stopped.
func benchDrop(b *testing.B, client *mongo.Client, db string) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := client.Database(db).Drop(ctx); err != nil {
		b.Fatalf("drop %s: %v", db, err)
	}
}

// BenchmarkRawInsert is the floor of a restore: the archive's documents inserted with
// unordered insertMany batches of 1,000, four workers per collection and every collection
// at once (Restore's defaults), into a fresh database with no indexes and no options.
func BenchmarkRawInsert(b *testing.B) {
	ds := benchData(b, 1)
	a := benchInMemory(b, ds)
	b.SetBytes(ds.bytes)
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		target := testenv.UniqueName("benchi")
		before := benchReadCPU(b)
		g, ctx := errgroup.WithContext(context.Background())
		for coll, docs := range a.docs {
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
		after := benchReadCPU(b)
		cpu += after.servers["ferretdb"] - before.servers["ferretdb"]
		benchDrop(b, ds.client, target)
	}
	b.ReportMetric(float64(ds.docs)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "ferretdb-cpu-s/op")
}

// BenchmarkRestorePipeline is dump.Restore in this process from the in-memory plain
// archive into a fresh database: inserts, then indexes, with no download, decompression
// or child process.
func BenchmarkRestorePipeline(b *testing.B) {
	ds := benchData(b, 1)
	a := benchInMemory(b, ds)
	b.SetBytes(ds.bytes)
	b.ReportAllocs()
	var cpu, ferret time.Duration
	for b.Loop() {
		target := testenv.UniqueName("benchp")
		before := benchReadCPU(b)
		st, err := dump.Restore(context.Background(), ds.client, bytes.NewReader(a.plain), dump.RestoreOptions{Renamer: benchRenamer(b, ds.db, target)})
		if err != nil {
			b.Fatal(err)
		}
		if st.Inserted != ds.docs {
			b.Fatalf("restored %d documents, want %d", st.Inserted, ds.docs)
		}
		after := benchReadCPU(b)
		cpu += after.self - before.self
		ferret += after.servers["ferretdb"] - before.servers["ferretdb"]
		benchDrop(b, ds.client, target)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ds.docs)*n/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(cpu.Seconds()/n/(float64(ds.bytes)/100e6), "cpu-s/100MB")
	b.ReportMetric(ferret.Seconds()/n, "ferretdb-cpu-s/op")
}

func benchRenamer(b *testing.B, from, to string) *ns.Renamer {
	b.Helper()
	r, err := ns.NewRenamer([]string{from + ".*"}, []string{to + ".*"})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// benchBackupObject is a stored zstd backup of the 50,000-document database.
type benchBackupObject struct {
	env env
	key string
}

// BenchmarkRestore runs `mongostash restore` of a zstd backup (made once, untimed) into
// a fresh database each time. Requirement (issue 6): peak-RSS-MiB ≤ 200 at the defaults.
func BenchmarkRestore(b *testing.B) {
	ds := benchData(b, 1)
	obj := benchZstdOnce.get(b, func() (*benchBackupObject, error) {
		e, _ := benchBed(b, ds)
		r := benchRun(b, e, "backup")
		for _, m := range r.logs {
			if m["msg"] == "backup complete" {
				if key, ok := m["key"].(string); ok {
					return &benchBackupObject{env: e, key: key}, nil
				}
			}
		}
		return nil, errors.New("the backup logged no key")
	})
	b.SetBytes(ds.bytes)
	var rs benchRuns
	for b.Loop() {
		target := testenv.UniqueName("benchr")
		r := benchRun(b, obj.env, "restore", obj.key, "--ns-from", ds.db+".*", "--ns-to", target+".*")
		if docs := r.logValue(b, "restore complete", "documents"); int64(docs) != ds.docs {
			b.Fatalf("restore inserted %.0f documents, want %d", docs, ds.docs)
		}
		rs.runs = append(rs.runs, r)
		benchDrop(b, ds.client, target)
	}
	rs.report(b, ds)
}
