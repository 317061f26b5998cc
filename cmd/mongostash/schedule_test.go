package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/mongostash/mongostash/catalog"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// background is mongostash running as a daemon, as a Kubernetes Deployment runs it: in
// this process (startCLI) or as the real binary (startBinary).
type background struct {
	t      *testing.T
	stderr syncBuffer // the JSON log
	done   chan struct{}
	code   int
	term   func() error // SIGTERM, or the end of run's context
	kill   func()
}

// startCLI runs the CLI in this process until stop ends its context, as SIGTERM ends
// main's.
func startCLI(t *testing.T, e env, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &background{t: t, done: make(chan struct{}), term: func() error { cancel(); return nil }, kill: cancel}
	go func() {
		defer close(d.done)
		d.code = run(ctx, args, e.lookup, io.Discard, &d.stderr)
	}()
	d.cleanup()
	return d
}

// startBinary runs the binary in the background; stop sends it SIGTERM.
func startBinary(t *testing.T, e env, args ...string) *background {
	t.Helper()
	cmd := binaryCommand(context.Background(), t, e, args...)
	d := &background{t: t, done: make(chan struct{})}
	cmd.Stdout = io.Discard
	cmd.Stderr = &d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.term = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	d.kill = func() { _ = cmd.Process.Kill() }
	go func() {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			d.code = ee.ExitCode()
		} else if err != nil {
			d.code = -1
		}
		close(d.done)
	}()
	d.cleanup()
	return d
}

// cleanup fails a test that leaves its daemon running, after stopping it.
func (d *background) cleanup() {
	d.t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.kill()
			<-d.done
			d.t.Errorf("the daemon was still running at the end of the test; log:\n%s", d.stderr.String())
		}
	})
}

// logs returns the log lines so far, decoded.
func (d *background) logs() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.stderr.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls the log until ok says yes; it fails the test on timeout or if the
// daemon exits first.
func (d *background) waitFor(what string, timeout time.Duration, ok func([]map[string]any) bool) []map[string]any {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lines := d.logs()
		if ok(lines) {
			return lines
		}
		select {
		case <-d.done:
			d.t.Fatalf("the daemon exited (%d) while waiting for %s; log:\n%s", d.code, what, d.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s; log:\n%s", what, d.stderr.String())
		}
	}
}

// stop sends SIGTERM, as Kubernetes does (or ends the context of an in-process run, as
// SIGTERM ends main's), and returns the exit code.
func (d *background) stop() int {
	d.t.Helper()
	if err := d.term(); err != nil {
		d.t.Fatal(err)
	}
	select {
	case <-d.done:
		return d.code
	case <-time.After(time.Minute):
		d.t.Fatalf("the daemon did not exit within a minute of SIGTERM; log:\n%s", d.stderr.String())
		return -1
	}
}

func withMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

func countMsg(msg string, n int) func([]map[string]any) bool {
	return func(lines []map[string]any) bool { return len(withMsg(lines, msg)) >= n }
}

// listenAddr waits for the daemon to say where it serves /metrics and /healthz.
func (d *background) listenAddr() string {
	d.t.Helper()
	lines := d.waitFor("the metrics listener", 30*time.Second, countMsg("serving /metrics and /healthz", 1))
	addr, _ := withMsg(lines, "serving /metrics and /healthz")[0]["addr"].(string)
	if addr == "" {
		d.t.Fatalf("no addr in the log:\n%s", d.stderr.String())
	}
	return "http://" + addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// parseMetrics parses the Prometheus text format.
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, text)
	}
	return mfs
}

// metricValue is the value of the series of name whose labels include want; ok is false
// when there is no such series.
func metricValue(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// wantMetric fails unless the series exists with exactly this value.
func wantMetric(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := metricValue(mfs, name, labels)
	if !ok {
		t.Errorf("%s%v: missing", name, labels)
	} else if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// wantNoMetric fails if the series exists.
func wantNoMetric(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) {
	t.Helper()
	if got, ok := metricValue(mfs, name, labels); ok {
		t.Errorf("%s%v = %v, want no such series", name, labels, got)
	}
}

// insertDocs writes n documents of size bytes of random (incompressible) data each.
func insertDocs(t *testing.T, b *bed, n, size int) {
	t.Helper()
	var docs []any
	for i := range n {
		blob := make([]byte, size)
		_, _ = rand.Read(blob)
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "blob", Value: bson.Binary{Data: blob}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	coll := b.mongo.Client.Database(b.mongo.DB).Collection("blobs")
	for len(docs) > 0 { // in batches, to stay under the wire message size
		k := min(len(docs), 16)
		if _, err := coll.InsertMany(ctx, docs[:k]); err != nil {
			t.Fatal(err)
		}
		docs = docs[k:]
	}
}

func multipartUploads(t *testing.T, b *bed) int {
	t.Helper()
	out, err := b.bucket.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(b.bucket.Name)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// objectSizes maps every object in the bucket to its size.
func objectSizes(t *testing.T, b *bed) map[string]int64 {
	t.Helper()
	out, err := b.bucket.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket.Name)})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, o := range out.Contents {
		sizes[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
	}
	return sizes
}

// TestScheduledBackup runs `backup --schedule '@every 1s'` as a daemon over about 10 MiB
// of data, so that runs take about as long as the interval: at least two runs, never two
// at once (ticks that come during a run are skipped and logged), then SIGTERM while a
// multipart upload is in flight: exit 0, no upload and no partial object left behind.
func TestScheduledBackup(t *testing.T) {
	b := newBed(t)
	insertDocs(t, b, 40, 256<<10)
	e := b.env.with("BACKUP_SCHEDULE", "@every 1s", "BACKUP_COMPRESSION", "none", "S3_PART_SIZE", fmt.Sprint(5<<20))
	d := startBinary(t, e, "backup")
	d.waitFor("two successful runs", 3*time.Minute, func(lines []map[string]any) bool {
		n := 0
		for _, l := range withMsg(lines, "scheduled run finished") {
			if l["result"] == "success" {
				n++
			}
		}
		return n >= 2
	})

	// SIGTERM as soon as a multipart upload is in flight (a run that slips through
	// between two polls is followed by the next one a second later).
	deadline := time.Now().Add(2 * time.Minute)
	for multipartUploads(t, b) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("never saw a multipart upload in flight; log:\n%s", d.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; log:\n%s", code, d.stderr.String())
	}
	lines := d.logs()

	// No overlap: runs start and end strictly in turn.
	running, skips, longest := 0, 0, 0.0
	for _, l := range lines {
		switch l["msg"] {
		case "scheduled run started":
			if running != 0 {
				t.Errorf("run %v started while run %d was still going", l["run"], running)
			}
			running = int(l["run"].(float64))
		case "scheduled run finished", "scheduled run failed", "scheduled run aborted by shutdown":
			if int(l["run"].(float64)) != running {
				t.Errorf("run %v ended but run %d was the one going", l["run"], running)
			}
			running = 0
			if secs, ok := l["duration_seconds"].(float64); ok && l["result"] == "success" {
				longest = max(longest, secs)
			}
		case "scheduled run skipped":
			skips++
		}
	}
	t.Logf("%d runs started, %d ticks skipped, longest successful run %.2fs", len(withMsg(lines, "scheduled run started")), skips, longest)
	if longest > 1.05 && skips == 0 {
		t.Errorf("a run took %.2fs with a 1s schedule but no tick was skipped", longest)
	}
	if len(withMsg(lines, "daemon stopped")) != 1 {
		t.Errorf("no clean 'daemon stopped' line; log:\n%s", d.stderr.String())
	}

	// What SIGTERM left: no upload, and every object a complete backup.
	if n := multipartUploads(t, b); n != 0 {
		t.Errorf("%d multipart uploads left behind after SIGTERM", n)
	}
	sizes := objectSizes(t, b)
	for key := range sizes {
		if strings.HasSuffix(key, ".manifest.json") {
			continue
		}
		if _, ok := sizes[catalog.ManifestKey(key)]; !ok {
			t.Errorf("object %s has no manifest: a partial backup was left behind", key)
		}
	}
	aborted := withMsg(lines, "scheduled run aborted by shutdown")
	started := withMsg(lines, "backup started")
	if len(aborted) == 1 && len(started) > 0 {
		t.Logf("aborted run: %v", aborted[0]["error"])
		if key := started[len(started)-1]["key"].(string); sizes[key] != 0 {
			t.Errorf("the aborted run's object %s exists", key)
		}
	} else {
		t.Logf("the run in flight finished before the signal reached it (aborted lines: %d)", len(aborted))
	}
}

// TestScheduledRunsNeverOverlap makes every run take 2s with a 1s schedule, so that ticks
// are certain to come during runs: they are skipped and logged, and runs start and end
// strictly in turn. The slowness comes from a stand-in for mongodump (the engine
// mongotools path) that sleeps before writing a golden archive real mongodump produced;
// the upload goes to the real S3 test server.
func TestScheduledRunsNeverOverlap(t *testing.T) {
	b := newBed(t)
	golden, err := filepath.Abs("../../dump/archive/testdata/mongodump-100.18.0-ferretdb-shop.archive")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "mongodump")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 2\nexec cat "+shq(golden)+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := b.env.with("MONGO_DATABASE", "shop", "BACKUP_ENGINE", "mongotools", "MONGODUMP_PATH", script)
	d := startCLI(t, e, "backup", "--schedule", "@every 1s")
	d.waitFor("two runs and two skipped ticks", 2*time.Minute, func(lines []map[string]any) bool {
		return len(withMsg(lines, "scheduled run finished")) >= 2 && len(withMsg(lines, "scheduled run skipped")) >= 2
	})
	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; log:\n%s", code, d.stderr.String())
	}
	running := 0
	for _, l := range d.logs() {
		switch l["msg"] {
		case "scheduled run started":
			if running != 0 {
				t.Errorf("run %v started while run %d was still going", l["run"], running)
			}
			running = int(l["run"].(float64))
		case "scheduled run finished", "scheduled run failed", "scheduled run aborted by shutdown":
			if l["msg"] == "scheduled run failed" {
				t.Errorf("run %v failed: %v", l["run"], l["error"])
			}
			running = 0
		case "scheduled run skipped":
			if running == 0 {
				t.Errorf("a tick was skipped with no run going")
			}
		}
	}
	if n := multipartUploads(t, b); n != 0 {
		t.Errorf("%d multipart uploads left behind", n)
	}
}

// TestDaemonHealthAndMetrics: /healthz and /metrics before any run, after a success,
// when the success gets too old, and after a failure.
func TestDaemonHealthAndMetrics(t *testing.T) {
	b := newBed(t)
	insertDocs(t, b, 7, 1000)
	labels := map[string]string{"operation": "backup", "database": b.mongo.DB}
	success := map[string]string{"operation": "backup", "database": b.mongo.DB, "result": "success"}
	failure := map[string]string{"operation": "backup", "database": b.mongo.DB, "result": "failure"}

	t.Run("before the first run", func(t *testing.T) {
		d := startCLI(t, b.env.with("METRICS_LISTEN", "127.0.0.1:0"), "backup", "--schedule", "@every 1h", "--health-max-age", "3s")
		base := d.listenAddr()
		code, body := httpGet(t, base+"/healthz")
		if code != http.StatusOK || !strings.Contains(body, "no run yet") {
			t.Errorf("/healthz before any run: %d %q, want 200 and 'no run yet'", code, body)
		}
		code, body = httpGet(t, base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d %s", code, body)
		}
		mfs := parseMetrics(t, body)
		wantMetric(t, mfs, "mongostash_runs_total", success, 0)
		wantMetric(t, mfs, "mongostash_runs_total", failure, 0)
		wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it
		wantNoMetric(t, mfs, "mongostash_last_success_timestamp_seconds", labels)
		if mfs["go_goroutines"] == nil || mfs["process_start_time_seconds"] == nil {
			t.Errorf("the daemon's /metrics should carry the Go and process collectors")
		}
		// With no run within the threshold since the start, the daemon is unhealthy.
		time.Sleep(3500 * time.Millisecond)
		code, body = httpGet(t, base+"/healthz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "no run yet") {
			t.Errorf("/healthz with no run past the threshold: %d %q, want 503 and 'no run yet'", code, body)
		}
		if code := d.stop(); code != 0 {
			t.Errorf("idle daemon: exit %d after SIGTERM, want 0", code)
		}
	})

	t.Run("after a success", func(t *testing.T) {
		before := time.Now()
		d := startCLI(t, b.env, "backup", "--schedule", "0 3 * * *", "--run-on-start", "--listen", "127.0.0.1:0", "--health-max-age", "4s")
		base := d.listenAddr()
		d.waitFor("the run", 2*time.Minute, countMsg("scheduled run finished", 1))
		after := time.Now()
		code, body := httpGet(t, base+"/healthz")
		if code != http.StatusOK || !strings.Contains(body, "ok: last success at") {
			t.Errorf("/healthz after a success: %d %q", code, body)
		}
		_, body = httpGet(t, base+"/metrics")
		mfs := parseMetrics(t, body)
		wantMetric(t, mfs, "mongostash_runs_total", success, 1)
		wantMetric(t, mfs, "mongostash_runs_total", failure, 0)
		wantMetric(t, mfs, "mongostash_last_run_success", labels, 1)
		wantMetric(t, mfs, "mongostash_last_run_documents", labels, 7)
		ts, _ := metricValue(mfs, "mongostash_last_success_timestamp_seconds", labels)
		if ts < float64(before.Unix()) || ts > float64(after.Unix()+1) {
			t.Errorf("last success %v not within the run (%v .. %v)", ts, before.Unix(), after.Unix())
		}
		var stored int64
		for key, size := range objectSizes(t, b) {
			if !strings.HasSuffix(key, ".manifest.json") {
				stored = size
			}
		}
		wantMetric(t, mfs, "mongostash_last_run_bytes", labels, float64(stored))
		if dur, ok := metricValue(mfs, "mongostash_last_run_duration_seconds", labels); !ok || dur <= 0 {
			t.Errorf("last run duration %v, %v", dur, ok)
		}
		// The success grows older than --health-max-age with no run due: unhealthy.
		time.Sleep(time.Until(time.Unix(0, int64(ts*1e9)).Add(4500 * time.Millisecond)))
		code, body = httpGet(t, base+"/healthz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "old, more than 4s") {
			t.Errorf("/healthz with a stale success: %d %q, want 503", code, body)
		}
		if code := d.stop(); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0", code)
		}
	})

	t.Run("after a failure", func(t *testing.T) {
		e := b.env.with("MONGO_URL", "mongodb://127.0.0.1:1/", "MONGO_TIMEOUT", "1s")
		file := filepath.Join(t.TempDir(), "mongostash.prom") // a daemon writes it after each run too
		d := startCLI(t, e, "backup", "--schedule", "@daily", "--run-on-start", "--listen", "127.0.0.1:0", "--metrics-file", file)
		base := d.listenAddr()
		d.waitFor("the failed run", 2*time.Minute, countMsg("scheduled run failed", 1))
		code, body := httpGet(t, base+"/healthz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "last run failed") {
			t.Errorf("/healthz after a failure: %d %q, want 503 'last run failed'", code, body)
		}
		_, body = httpGet(t, base+"/metrics")
		mfs := parseMetrics(t, body)
		wantMetric(t, mfs, "mongostash_runs_total", failure, 1)
		wantMetric(t, mfs, "mongostash_runs_total", success, 0)
		wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it
		wantMetric(t, mfs, "mongostash_last_run_success", labels, 0)
		wantNoMetric(t, mfs, "mongostash_last_success_timestamp_seconds", labels)
		mfs = parseMetrics(t, readMetricsFile(t, file))
		wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it
		if code := d.stop(); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0", code)
		}
	})
}

// TestScheduleUsageErrors: configuration mistakes exit 2 before anything runs.
func TestScheduleUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"bad cron":              {"backup", "--schedule", "61 * * * *"},
		"six fields":            {"prune", "--schedule", "0 0 3 * * *"},
		"never fires":           {"prune", "--schedule", "0 0 30 2 *"},
		"listen needs schedule": {"backup", "--listen", "127.0.0.1:0"},
		"no metrics dir":        {"prune", "--metrics-file", "/nonexistent/dir/mongostash.prom"},
		"bad pushgateway":       {"prune", "--pushgateway", "ftp://example.com"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, env{"LOG_FORMAT": "json"}, args...)
			if r.code != exitUsage {
				t.Errorf("want exit %d, got %s", exitUsage, r)
			}
		})
	}
}
