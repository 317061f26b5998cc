package bench

// What these benchmarks measure, and how (see also docs/benchmarks.md):
//
// The data set is internal/sample.LoadBench: MONGOSTASH_BENCH_DOCS documents (default
// 100,000, about 200 MB of BSON) in four collections of different shapes, loaded once per
// benchmark process; the 5× benchmarks load five times as many into a second database.
//
// The child-process benchmarks run the real binary, built like `make build` (no -race, CGO
// off), as cron runs it: wall time, user+system CPU and peak RSS (getrusage's maxrss) of
// the child. When mongodump/mongorestore are on PATH they run in the same iteration, in
// alternating order, against the same server, and the ratios of the medians are reported
// (…-ratio metrics). Run them with -benchtime=3x (the Makefile does) for a median of three.
// Each figure is printed with the machine's load average, because the machine is shared:
// ratios measured side by side mean more than absolute times.
//
// With -benchmem, B/op and allocs/op of a child-process benchmark count only this harness;
// the in-process benchmarks (BenchmarkRestorePipeline, BenchmarkDumpToDiscard, …) report the
// library's own allocations, per document too.
//
// MONGOSTASH_TEST_MONGO_URL points them at another server (`make bench-v2` starts FerretDB
// v2 that way); the databases they create (names starting with "bench") are dropped when
// the process ends.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cleanup()
	testenv.StopAll()
	os.Exit(code)
}

var (
	cleanupMu    sync.Mutex
	cleanupDBs   []string // databases to drop at the end
	cleanupFiles []string // the built binary's directory, dump files
)

// dropAtExit registers a database for dropping when the process ends, so a shared server
// is left as it was found.
func dropAtExit(db string) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanupDBs = append(cleanupDBs, db)
}

func cleanup() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	unpinServer()
	for _, f := range cleanupFiles {
		os.RemoveAll(f)
	}
	if len(cleanupDBs) == 0 || benchClientOnce.v == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, db := range cleanupDBs {
		if err := benchClientOnce.v.Database(db).Drop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop %s: %v\n", db, err)
		}
	}
}

// mallocCount is the number of heap allocations of this process so far.
func mallocCount() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}
