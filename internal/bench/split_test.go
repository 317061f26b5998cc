package bench

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/mongostash/mongostash/dump/idrange"
)

// benchParallel is the cursors of a backup (--parallel's default), for the raw scan.
const benchParallel = 4

// BenchmarkSplitBackup is issue 20's measure of split reads, on the skewed data set (one
// collection, orders, holds about 86 % of the bytes): `mongostash backup` with splitting
// (the default threshold, or MONGOSTASH_BENCH_SPLIT) against the same with splitting off (BACKUP_SPLIT_THRESHOLD=0),
// and against the floor, the driver's raw scan of the same data with the largest
// collection in ranges read four at once (rawRangeScan); the split backup also runs without
// compression, which leaves the read and the archive. Each iteration rotates the order.
// Targets (FerretDB v2): split/unsplit ≤ 0.7, split/raw ≤ 1.15, peak RSS ≤ 100 MiB, flat
// from 1× (about 200 MB) to 5×.
func BenchmarkSplitBackup(b *testing.B) {
	for _, scale := range []int{1, 5} {
		b.Run(fmt.Sprintf("%dx", scale), func(b *testing.B) {
			ds := skewedData(b, scale)
			bd := newBed(b, ds)
			var split, plain, unsplit, raw series
			b.SetBytes(ds.bytes)
			for i := 0; b.Loop(); i++ {
				sides := []func(){
					func() {
						r := runMongostash(b, splitEnv(bd.env), "backup")
						checkBackup(b, r, ds)
						printRun(b, "split", i, r)
						fmt.Printf("#   %v\n", r.logFields(b, "reading in ranges"))
						split = append(split, r)
					},
					func() {
						r := runMongostash(b, withEnv(splitEnv(bd.env), "BACKUP_COMPRESSION", "none"), "backup")
						checkBackup(b, r, ds)
						printRun(b, "split, none", i, r)
						plain = append(plain, r)
					},
					func() {
						r := runMongostash(b, withEnv(bd.env, "BACKUP_SPLIT_THRESHOLD", "0"), "backup")
						checkBackup(b, r, ds)
						printRun(b, "unsplit", i, r)
						unsplit = append(unsplit, r)
					},
					func() {
						r := rawRangeScan(b, ds)
						printRun(b, "raw ranges", i, r)
						raw = append(raw, r)
					},
				}
				for k := range sides {
					sides[(i+k)%len(sides)]()
				}
			}
			reportOurs(b, split, ds)
			b.ReportMetric(unsplit.wall(), "unsplit-wall-s")
			b.ReportMetric(raw.wall(), "raw-ranges-wall-s")
			b.ReportMetric(split.wall()/unsplit.wall(), "split/unsplit")
			b.ReportMetric(split.wall()/raw.wall(), "split/raw")
			b.ReportMetric(plain.wall()/raw.wall(), "split-uncompressed/raw")
			fmt.Printf("# %s median of %d: split %.2fs (RSS %.0f MiB), split uncompressed %.2fs, unsplit %.2fs (RSS %.0f MiB), raw ranges %.2fs: split/unsplit %.2f, split/raw %.2f, uncompressed/raw %.2f\n",
				b.Name(), len(split), split.wall(), split.peakRSS(), plain.wall(), unsplit.wall(), unsplit.peakRSS(), raw.wall(),
				split.wall()/unsplit.wall(), split.wall()/raw.wall(), plain.wall()/raw.wall())
			fmt.Printf("# %s machine cpu-s (server's): split %.2f (%.2f), split uncompressed %.2f (%.2f), unsplit %.2f (%.2f), raw ranges %.2f (%.2f)\n",
				b.Name(), split.machineCPU(), split.serverCPU(), plain.machineCPU(), plain.serverCPU(),
				unsplit.machineCPU(), unsplit.serverCPU(), raw.machineCPU(), raw.serverCPU())
			if scale == 1 {
				rss1x["split"] = split.peakRSS()
			} else if base := rss1x["split"]; base > 0 {
				b.ReportMetric(split.peakRSS()/base, "rss-vs-1x")
			}
		})
	}
}

func checkBackup(b *testing.B, r run, ds *dataset) {
	b.Helper()
	if docs := r.logNumber(b, "backup complete", "documents"); int64(docs) != ds.docs {
		b.Fatalf("backup wrote %.0f documents, want %d", docs, ds.docs)
	}
}

// splitEnv is the split side's environment: debug logs (which name the ranges), and the
// threshold MONGOSTASH_BENCH_SPLIT gives (bytes), else the default.
func splitEnv(env map[string]string) map[string]string {
	out := withEnv(env, "LOG_LEVEL", "debug")
	if t := os.Getenv("MONGOSTASH_BENCH_SPLIT"); t != "" {
		out["BACKUP_SPLIT_THRESHOLD"] = t
	}
	return out
}

// withEnv is a copy of env with the given keys and values set.
func withEnv(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// rawRangeScan is the floor of a split backup: in this process, the driver reads every
// document of ds with four cursors at once — the largest collection as ranges between
// $sample boundaries (the same planner the dump uses, the same _id-ordered, hinted finds),
// the others whole — and decodes nothing. Its CPU is this process's.
func rawRangeScan(b *testing.B, ds *dataset) run {
	b.Helper()
	ctx := context.Background()
	machine := snapshotCPU()
	start, cpu := time.Now(), selfCPU(b)
	largest, tasks := "", []bson.D(nil)
	var largestSize int64
	for _, c := range ds.colls {
		var st struct {
			Size int64 `bson:"size"`
		}
		if err := ds.client.Database(ds.db).RunCommand(ctx, bson.D{{Key: "collStats", Value: c}}).Decode(&st); err == nil && st.Size > largestSize {
			largest, largestSize = c, st.Size
		}
	}
	plan := samplePlan(b, ds, largest)
	for _, r := range plan.Ranges {
		tasks = append(tasks, r.Filter())
	}
	tasks = append(tasks, plan.RestFilter(false))
	if f := plan.NaNFilter(); f != nil {
		tasks = append(tasks, f)
	}
	var docs atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(benchParallel)
	read := func(coll string, filter bson.D, hint bool) func() error {
		return func() error {
			find := options.Find().SetBatchSize(2000).SetSort(bson.D{{Key: "_id", Value: 1}})
			if hint {
				find.SetHint(bson.D{{Key: "_id", Value: 1}})
			}
			cur, err := ds.client.Database(ds.db).Collection(coll).Find(gctx, filter, find)
			if err != nil {
				return err
			}
			defer cur.Close(context.WithoutCancel(gctx))
			for cur.Next(gctx) {
				docs.Add(1)
			}
			return cur.Err()
		}
	}
	for i, f := range tasks {
		g.Go(read(largest, f, i < len(plan.Ranges)))
	}
	for _, c := range ds.colls {
		if c != largest {
			g.Go(read(c, bson.D{}, false))
		}
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	if docs.Load() != ds.docs {
		b.Fatalf("raw range scan read %d documents, want %d", docs.Load(), ds.docs)
	}
	wall, cpu := time.Since(start), selfCPU(b)-cpu
	return run{wall: wall, cpu: cpu, load: loadAverage(), used: machine.since()}
}

// samplePlan divides coll into benchParallel ranges between sampled _id values.
func samplePlan(b *testing.B, ds *dataset, coll string) idrange.Plan {
	b.Helper()
	ctx := context.Background()
	pipeline := bson.A{bson.D{{Key: "$sample", Value: bson.D{{Key: "size", Value: 32 * benchParallel}}}},
		bson.D{{Key: "$project", Value: bson.D{{Key: "_id", Value: 1}}}}, bson.D{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}}}
	cur, err := ds.client.Database(ds.db).Collection(coll).Aggregate(ctx, pipeline)
	if err != nil {
		b.Fatalf("sample %s: %v", coll, err)
	}
	defer cur.Close(ctx)
	var ids []bson.RawValue
	for cur.Next(ctx) {
		id := cur.Current.Lookup("_id")
		ids = append(ids, bson.RawValue{Type: id.Type, Value: append([]byte(nil), id.Value...)})
	}
	return idrange.NewPlan(idrange.Choose(ids, benchParallel))
}
