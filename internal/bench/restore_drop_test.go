package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
)

// BenchmarkRestoreDrop is `restore --drop` over a database that already holds the data
// (issue 20): each iteration runs `mongostash restore --drop` of the base data set's backup
// over a target filled once, untimed (each run leaves it full for the next), and — with
// mongorestore on PATH — `mongorestore --drop --archive` of the mongodump file over its own
// filled target, in alternating order; ratios of the medians are reported. It also times
// what the drop is allowed to cost, a fresh restore plus the server's drop of the old
// collections (fresh+drop-ratio: ours over that sum). Targets: wall-ratio ≤ 1.0 on FerretDB
// v1, ≤ 0.7 on v2; cpu-ratio ≤ 1.0; fresh+drop-ratio ≤ 1.0. Each of our runs prints the
// restore's phases (the debug log's "restore phases").
//
// Each run leaves its target freshly written, and a server may still be working on it when
// the next run starts (PostgreSQL's autovacuum of 100,000 new rows, under FerretDB v2) — work
// an existing database that has settled does not carry, and that mongorestore --drop
// escapes by dropping it first. MONGOSTASH_BENCH_SETTLE (a duration, e.g. 30s) waits that long,
// untimed, before each run.
func BenchmarkRestoreDrop(b *testing.B) {
	ds := benchData(b, 1)
	s := storeBackup(b, ds, &stored1xOnce)
	mongorestore, file := stockTool(b, "mongorestore"), ""
	if mongodump := stockTool(b, "mongodump"); mongorestore != "" && mongodump != "" {
		file = seedFile(b, ds, mongodump)
	} else {
		mongorestore = ""
	}
	ours, fresh := testenv.UniqueName("benchd"), testenv.UniqueName("benchf")
	stock := testenv.UniqueName("benchmd")
	for _, db := range []string{ours, fresh, stock} {
		dropAtExit(db)
	}
	env := map[string]string{"LOG_LEVEL": "debug"}
	for k, v := range s.bed.env {
		env[k] = v
	}
	stockArgs := []string{"--uri=" + ds.url, "--archive=" + file, "--nsFrom=" + ds.db + ".*", "--nsTo=" + stock + ".*", "--quiet"}
	var noIndex []string
	if mongorestore != "" && !stockBuildsIndexes(b, mongorestore, stockArgs) {
		// Stock mongorestore sends the legacy "ns" index option, which FerretDB v1 refuses:
		// there, both sides restore the data without indexes.
		fmt.Printf("# %s: mongorestore cannot build indexes on this server; both sides restore without them\n", b.Name())
		noIndex = []string{"--no-index-restore"}
		stockArgs = append(stockArgs, "--noIndexRestore")
		runChild(b, nil, mongorestore, append(stockArgs, "--drop")...)
	}
	restore := func(target string, args ...string) run {
		args = append(append([]string{"restore", s.key, "--ns-from", ds.db + ".*", "--ns-to", target + ".*"}, noIndex...), args...)
		return runMongostash(b, env, args...)
	}
	restore(ours)
	restore(fresh)
	var oursRuns, stockRuns, freshRuns series
	for i := 0; b.Loop(); i++ {
		sides := []func(){
			func() {
				r := restore(ours, "--drop")
				checkRestored(b, r, ds)
				printRun(b, "drop", i, r)
				fmt.Printf("#   phases: %v\n", r.logFields(b, "restore phases"))
				oursRuns = append(oursRuns, r)
			},
			func() {
				// What the drop may cost: the server's drop of the old collections, then
				// a restore into the empty database.
				start := time.Now()
				dropDBTimed(b, ds, fresh)
				dropped := time.Since(start)
				r := restore(fresh)
				checkRestored(b, r, ds)
				r.wall += dropped
				printRun(b, "fresh+drop", i, r)
				fmt.Printf("#   server drop %.2fs; phases: %v\n", dropped.Seconds(), r.logFields(b, "restore phases"))
				freshRuns = append(freshRuns, r)
			},
			func() {
				if mongorestore == "" {
					return
				}
				r := runChild(b, nil, mongorestore, append(stockArgs, "--drop")...)
				if n := countDocs(b, ds, stock); n != ds.docs {
					b.Fatalf("mongorestore --drop left %d documents, want %d", n, ds.docs)
				}
				printRun(b, "mongorestore", i, r)
				stockRuns = append(stockRuns, r)
			},
		}
		for k := range sides {
			settle(b)
			sides[(i+k)%len(sides)]()
		}
	}
	reportOurs(b, oursRuns, ds)
	reportVersus(b, "mongorestore", oursRuns, stockRuns)
	b.ReportMetric(freshRuns.wall(), "fresh+drop-wall-s")
	b.ReportMetric(oursRuns.wall()/freshRuns.wall(), "fresh+drop-ratio")
}

func checkRestored(b *testing.B, r run, ds *dataset) {
	b.Helper()
	if docs := r.logNumber(b, "restore complete", "documents"); int64(docs) != ds.docs {
		b.Fatalf("restore inserted %.0f documents, want %d", docs, ds.docs)
	}
}

// dropDBTimed drops db with the timer running: it is part of what is measured.
func dropDBTimed(b *testing.B, ds *dataset, db string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := ds.client.Database(db).Drop(ctx); err != nil {
		b.Fatalf("drop %s: %v", db, err)
	}
}

// logFields returns the fields of the first log line with message msg, without the
// standard ones.
func (r run) logFields(b *testing.B, msg string) map[string]any {
	b.Helper()
	for _, m := range r.logs {
		if m["msg"] == msg {
			out := map[string]any{}
			for k, v := range m {
				if k != "msg" && k != "time" && k != "level" {
					out[k] = v
				}
			}
			return out
		}
	}
	return nil
}

// settle waits MONGOSTASH_BENCH_SETTLE, untimed.
func settle(b *testing.B) {
	b.Helper()
	s := os.Getenv("MONGOSTASH_BENCH_SETTLE")
	if s == "" {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		b.Fatalf("MONGOSTASH_BENCH_SETTLE=%q: %v", s, err)
	}
	b.StopTimer()
	time.Sleep(d)
	b.StartTimer()
}

// stockBuildsIndexes fills the stock side's target with mongorestore (untimed) and reports
// whether it could build the indexes too.
func stockBuildsIndexes(b *testing.B, mongorestore string, args []string) bool {
	b.Helper()
	// Without --quiet, which would hide the error too.
	out, err := exec.Command(mongorestore, slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--quiet" })...).CombinedOutput()
	switch {
	case err == nil:
		return true
	case strings.Contains(string(out), "error creating indexes"):
		return false
	}
	b.Fatalf("mongorestore: %v\n%s", err, tail(string(out), 4000))
	return false
}
