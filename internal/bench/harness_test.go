package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/internal/testenv"
)

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
)

// benchClient is one driver client for the whole process.
func benchClient(b *testing.B) (*mongo.Client, string) {
	b.Helper()
	url := testenv.MongoURL(b)
	c := benchClientOnce.get(b, func() (*mongo.Client, error) {
		pinned, err := pinServer()
		if err != nil {
			return nil, err
		}
		if pinned != "" {
			fmt.Printf("# %s\n", pinned)
		}
		return mongo.Connect(options.Client().ApplyURI(url).SetServerSelectionTimeout(20 * time.Second))
	})
	return c, url
}

// benchBinary builds mongostash like `make build`, once, into a directory TestMain removes.
func benchBinary(b *testing.B) string {
	b.Helper()
	return benchBinOnce.get(b, func() (string, error) {
		dir, err := os.MkdirTemp("", "mongostash-bench-")
		if err != nil {
			return "", err
		}
		cleanupMu.Lock()
		cleanupFiles = append(cleanupFiles, dir)
		cleanupMu.Unlock()
		bin := filepath.Join(dir, "mongostash")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=bench", "-o", bin, "github.com/mongostash/mongostash/cmd/mongostash")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build mongostash for the benchmarks: %v\n%s", err, out)
		}
		return bin, nil
	})
}

// stockTool returns the path of a stock mongo-tools binary on PATH, or "" after saying
// that the side-by-side figures are missing.
func stockTool(b *testing.B, name string) string {
	b.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		fmt.Printf("# %s: %s is not on PATH, so no side-by-side ratio (stock mongo-tools 100.x: MongoDB's Database Tools packages, or built from the mongo-tools source)\n", b.Name(), name)
		return ""
	}
	return p
}

// run is what one run of a child process cost.
type run struct {
	wall   time.Duration
	cpu    time.Duration // user + system of the child
	rssKiB int64         // the child's peak resident set in KiB (VmHWM)
	load   string        // the machine's load averages when the run ended
	used   cpuUse        // the machine's CPU meanwhile (machine_test.go)
	logs   []map[string]any
}

// runChild runs path with exactly env (plus PATH and HOME), and fails the benchmark if it
// does not exit 0.
func runChild(b *testing.B, env []string, path string, args ...string) run {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.TempDir()}, env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	machine := snapshotCPU()
	start := time.Now()
	err := cmd.Start()
	var peak int64
	if err == nil {
		stop := watchRSS(cmd.Process.Pid, &peak)
		err = cmd.Wait()
		stop()
	}
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(path), strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	r := run{
		wall:   wall,
		cpu:    cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssKiB: peak,
		load:   loadAverage(),
		used:   machine.since(),
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

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// runMongostash runs the benchmark binary with JSON logs.
func runMongostash(b *testing.B, e map[string]string, args ...string) run {
	b.Helper()
	env := []string{"LOG_FORMAT=json"}
	for k, v := range e {
		env = append(env, k+"="+v)
	}
	return runChild(b, env, benchBinary(b), args...)
}

// logValue returns a field of the first log line with message msg.
func (r run) logValue(b *testing.B, msg, field string) any {
	b.Helper()
	for _, m := range r.logs {
		if m["msg"] == msg {
			if v, ok := m[field]; ok {
				return v
			}
		}
	}
	b.Fatalf("no %q with a %q in the log", msg, field)
	return nil
}

func (r run) logNumber(b *testing.B, msg, field string) float64 {
	b.Helper()
	v, ok := r.logValue(b, msg, field).(float64)
	if !ok {
		b.Fatalf("%q of %q is not a number", field, msg)
	}
	return v
}

// loadAverage is /proc/loadavg's first three fields, "?" where there is none.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// series is the runs of one side of a benchmark.
type series []run

func (s series) median(f func(run) float64) float64 {
	xs := make([]float64, len(s))
	for i, r := range s {
		xs[i] = f(r)
	}
	slices.Sort(xs)
	if len(xs) == 0 {
		return 0
	}
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func (s series) wall() float64 { return s.median(func(r run) float64 { return r.wall.Seconds() }) }
func (s series) cpu() float64  { return s.median(func(r run) float64 { return r.cpu.Seconds() }) }
func (s series) machineCPU() float64 {
	return s.median(func(r run) float64 { return r.used.machine.Seconds() })
}
func (s series) serverCPU() float64 {
	return s.median(func(r run) float64 { return r.used.server.Seconds() })
}
func (s series) peakRSS() float64 {
	var peak int64
	for _, r := range s {
		peak = max(peak, r.rssKiB)
	}
	return float64(peak) / 1024
}

// printRun prints one run's figures as a comment line of the benchmark output (b.Logf of a
// benchmark shows only with -v).
func printRun(b *testing.B, what string, i int, r run) {
	fmt.Printf("# %s run %d %-14s wall %6.2fs  cpu %6.2fs  peak RSS %5.0f MiB  machine cpu %5.2fs (server %5.2fs, store %4.2fs)  load %s\n",
		b.Name(), i+1, what, r.wall.Seconds(), r.cpu.Seconds(), float64(r.rssKiB)/1024,
		r.used.machine.Seconds(), r.used.server.Seconds(), r.used.store.Seconds(), r.load)
}

// reportOurs reports the medians of mongostash's runs over ds.
func reportOurs(b *testing.B, ours series, ds *dataset) {
	b.Helper()
	b.ReportMetric(ours.wall(), "wall-s")
	b.ReportMetric(ours.cpu(), "cpu-s")
	b.ReportMetric(ours.peakRSS(), "peak-RSS-MiB")
	b.ReportMetric(float64(ds.docs)/ours.wall(), "docs/s")
	b.ReportMetric(ours.cpu()/(float64(ds.bytes)/100e6), "cpu-s/100MB")
}

// reportVersus reports the ratios of mongostash's medians to the stock pipeline's.
func reportVersus(b *testing.B, stockName string, ours, stock series) {
	b.Helper()
	if len(stock) == 0 {
		return
	}
	b.ReportMetric(stock.wall(), stockName+"-wall-s")
	b.ReportMetric(stock.cpu(), stockName+"-cpu-s")
	b.ReportMetric(ours.wall()/stock.wall(), "wall-ratio")
	b.ReportMetric(ours.cpu()/stock.cpu(), "cpu-ratio")
	fmt.Printf("# %s median of %d: mongostash wall %.2fs cpu %.2fs RSS %.0f MiB | %s wall %.2fs cpu %.2fs RSS %.0f MiB | wall ratio %.2f, cpu ratio %.2f (GOMAXPROCS %d)\n",
		b.Name(), len(ours), ours.wall(), ours.cpu(), ours.peakRSS(), stockName, stock.wall(), stock.cpu(), stock.peakRSS(),
		ours.wall()/stock.wall(), ours.cpu()/stock.cpu(), runtime.GOMAXPROCS(0))
}

// watchRSS follows the peak resident set (VmHWM) of process pid into *peak until the
// returned function is called. getrusage's maxrss cannot be used: Go starts children with
// vfork, and Linux carries the parent's high-water mark — this process's, which holds the
// data set — over the child's exec. VmHWM belongs to the child's own memory since its exec
// (cmd.Start returns after it) and only grows, so sampling every 10 ms misses only a peak
// reached in the child's last milliseconds.
func watchRSS(pid int, peak *int64) (stop func()) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	sample := func() {
		raw, err := os.ReadFile(path)
		if err != nil {
			return
		}
		for line := range strings.Lines(string(raw)) {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kib int64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib); err == nil {
					*peak = max(*peak, kib)
				}
			}
		}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
