package main

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// readMetricsFile parses the textfile and checks that the atomic write left nothing else
// in its directory.
func readMetricsFile(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the metrics directory should hold only the textfile, has %v", names)
	}
	if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("textfile mode %v: node_exporter, another user, could not read it", st.Mode())
	}
	return string(data)
}

// TestMetricsFile: a one-shot backup writes a node_exporter textfile after a success and
// after a failure; a failure keeps failure counts and never writes a last success of 0.
// A prune writes its own, labelled database="all" without MONGO_DATABASE.
func TestMetricsFile(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	insertDocs(t, b, 5, 500)
	file := filepath.Join(t.TempDir(), "mongostash.prom")
	labels := map[string]string{"operation": "backup", "database": b.mongo.DB}
	withResult := func(r string) map[string]string {
		return map[string]string{"operation": "backup", "database": b.mongo.DB, "result": r}
	}

	before := time.Now()
	mustRun(t, b.env.with("METRICS_FILE", file), "backup")
	after := time.Now()
	mfs := parseMetrics(t, readMetricsFile(t, file))
	ts, ok := metricValue(mfs, "mongostash_last_success_timestamp_seconds", labels)
	if !ok || ts < float64(before.UnixNano())/1e9 || ts > float64(after.UnixNano())/1e9 {
		t.Errorf("last success %v (%v), want within %v..%v", ts, ok, before.Unix(), after.Unix())
	}
	var stored int64
	for key, size := range objectSizes(t, b) {
		if !strings.HasSuffix(key, ".manifest.json") {
			stored = size
		}
	}
	wantMetric(t, mfs, "mongostash_last_run_bytes", labels, float64(stored))
	wantMetric(t, mfs, "mongostash_last_run_documents", labels, 5)
	wantMetric(t, mfs, "mongostash_last_run_success", labels, 1)
	wantMetric(t, mfs, "mongostash_runs_total", withResult("success"), 1)
	wantMetric(t, mfs, "mongostash_runs_total", withResult("failure"), 0)
	wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it
	wantMetric(t, mfs, "mongostash_build_info", map[string]string{"version": buildInfo().Version, "commit": buildInfo().Commit, "goversion": runtime.Version()}, 1)
	if d, ok := metricValue(mfs, "mongostash_last_run_duration_seconds", labels); !ok || d <= 0 || d > after.Sub(before).Seconds() {
		t.Errorf("duration %v (%v)", d, ok)
	}
	if mfs["go_goroutines"] != nil {
		t.Errorf("a textfile must not carry Go runtime metrics: they clash with node_exporter's own")
	}

	// A failure: the process knows nothing of earlier successes and says so by omission.
	r := runCLI(t, b.env.with("MONGO_URL", "mongodb://127.0.0.1:1/", "MONGO_TIMEOUT", "1s"), "backup", "--metrics-file", file)
	if r.code != exitFailed {
		t.Fatalf("want exit 1, got %s", r)
	}
	mfs = parseMetrics(t, readMetricsFile(t, file))
	wantNoMetric(t, mfs, "mongostash_last_success_timestamp_seconds", labels)
	wantNoMetric(t, mfs, "mongostash_last_run_bytes", labels)
	wantMetric(t, mfs, "mongostash_last_run_success", labels, 0)
	wantMetric(t, mfs, "mongostash_runs_total", withResult("failure"), 1)
	wantMetric(t, mfs, "mongostash_runs_total", withResult("success"), 0)
	wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it
	if _, ok := metricValue(mfs, "mongostash_last_run_duration_seconds", labels); !ok {
		t.Errorf("a failed run still has a duration")
	}

	// prune, with no MONGO_DATABASE: database="all"; bytes are what it deleted.
	old := "backup-2020-01-01T00:00:00.dump"
	putObject(t, b, old, []byte("twelve bytes"))
	pe := b.env.with()
	delete(pe, "MONGO_DATABASE")
	pfile := filepath.Join(t.TempDir(), "prune.prom")
	mustRun(t, pe, "prune", "--metrics-file", pfile)
	mfs = parseMetrics(t, readMetricsFile(t, pfile))
	plabels := map[string]string{"operation": "prune", "database": "all"}
	wantMetric(t, mfs, "mongostash_last_run_bytes", plabels, 12)
	wantMetric(t, mfs, "mongostash_runs_total", map[string]string{"operation": "prune", "database": "all", "result": "success"}, 1)
	if _, ok := metricValue(mfs, "mongostash_last_success_timestamp_seconds", plabels); !ok {
		t.Errorf("prune: no last success")
	}
	if mfs["mongostash_last_run_documents"] != nil {
		t.Errorf("prune has no documents to report")
	}
	if _, ok := objectSizes(t, b)[old]; ok {
		t.Errorf("prune kept %s", old)
	}
}

// TestRestoreMetricsFile: a one-shot restore writes operation="restore" metrics after a
// success (documents inserted, bytes read from the store) and after a failure.
func TestRestoreMetricsFile(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	insertDocs(t, b, 5, 500)
	mustRun(t, b.env, "backup")
	var stored int64
	for key, size := range objectSizes(t, b) {
		if !strings.HasSuffix(key, ".manifest.json") {
			stored = size
		}
	}
	file := filepath.Join(t.TempDir(), "restore.prom")
	labels := map[string]string{"operation": "restore", "database": b.mongo.DB}
	withResult := func(r string) map[string]string {
		return map[string]string{"operation": "restore", "database": b.mongo.DB, "result": r}
	}

	mustRun(t, b.env, "restore", "--drop", "--metrics-file", file)
	mfs := parseMetrics(t, readMetricsFile(t, file))
	if _, ok := metricValue(mfs, "mongostash_last_success_timestamp_seconds", labels); !ok {
		t.Errorf("restore: no last success")
	}
	wantMetric(t, mfs, "mongostash_last_run_documents", labels, 5)
	wantMetric(t, mfs, "mongostash_last_run_bytes", labels, float64(stored))
	wantMetric(t, mfs, "mongostash_last_run_success", labels, 1)
	wantMetric(t, mfs, "mongostash_runs_total", withResult("success"), 1)
	wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it

	r := runCLI(t, b.env.with("MONGO_URL", "mongodb://127.0.0.1:1/", "MONGO_TIMEOUT", "1s", "METRICS_FILE", file), "restore", "--drop")
	if r.code != exitFailed {
		t.Fatalf("want exit 1, got %s", r)
	}
	mfs = parseMetrics(t, readMetricsFile(t, file))
	wantNoMetric(t, mfs, "mongostash_last_success_timestamp_seconds", labels)
	wantNoMetric(t, mfs, "mongostash_last_run_documents", labels)
	wantMetric(t, mfs, "mongostash_last_run_success", labels, 0)
	wantMetric(t, mfs, "mongostash_runs_total", withResult("failure"), 1)
	wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it
}

// pushed is one request the stand-in Pushgateway received.
type pushed struct {
	method, path, contentType, body string
	user, pass                      string
}

// fakePushgateway records pushes and answers with status.
func fakePushgateway(t *testing.T, status int) (*httptest.Server, func() []pushed) {
	t.Helper()
	var mu sync.Mutex
	var got []pushed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p := pushed{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: string(body)}
		p.user, p.pass, _ = r.BasicAuth()
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []pushed {
		mu.Lock()
		defer mu.Unlock()
		return append([]pushed(nil), got...)
	}
}

// groupingKey reads /metrics/job/J/label/value/… into a map.
func groupingKey(t *testing.T, path string) map[string]string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	if len(parts)%2 != 0 {
		t.Fatalf("odd push path %s", path)
	}
	key := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		key[parts[i]] = parts[i+1]
	}
	return key
}

// TestPushgateway: a one-shot backup pushes its metrics (POST, text format, job
// mongostash, grouped by operation and database, with basic auth from the URL); a failed
// backup pushes its failure without a last success; a Pushgateway that refuses the push
// is logged without the password and does not fail a good backup. The Pushgateway is an
// in-test HTTP server: what is under test is what mongostash sends.
func TestPushgateway(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	insertDocs(t, b, 3, 500)
	const password = "pushPassw0rd"
	srv, got := fakePushgateway(t, http.StatusOK)
	url := strings.Replace(srv.URL, "http://", "http://pusher:"+password+"@", 1)

	r := mustRun(t, b.env.with("PUSHGATEWAY_URL", url), "backup")
	if strings.Contains(r.stderr, password) {
		t.Errorf("password in the log: %s", r.stderr)
	}
	pushes := got()
	if len(pushes) != 1 {
		t.Fatalf("want 1 push, got %d", len(pushes))
	}
	p := pushes[0]
	if p.method != http.MethodPost {
		t.Errorf("method %s: want POST, which keeps the last success when a later failure pushes", p.method)
	}
	if want := map[string]string{"job": "mongostash", "operation": "backup", "database": b.mongo.DB}; !maps.Equal(groupingKey(t, p.path), want) {
		t.Errorf("grouping key %v, want %v", groupingKey(t, p.path), want)
	}
	if p.user != "pusher" || p.pass != password {
		t.Errorf("basic auth %q:%q, want the URL's", p.user, p.pass)
	}
	if !strings.HasPrefix(p.contentType, "text/plain") {
		t.Errorf("content type %q", p.contentType)
	}
	if strings.Contains(p.body, `operation="`) || strings.Contains(p.body, `database="`) {
		t.Errorf("the grouping labels belong in the path, not the body (the Pushgateway refuses them):\n%s", p.body)
	}
	mfs := parseMetrics(t, p.body)
	if _, ok := metricValue(mfs, "mongostash_last_success_timestamp_seconds", nil); !ok {
		t.Errorf("no last success pushed:\n%s", p.body)
	}
	wantMetric(t, mfs, "mongostash_runs_total", map[string]string{"result": "success"}, 1)
	wantMetric(t, mfs, "mongostash_last_run_documents", nil, 3)

	// A failed backup pushes the failure, and no last success.
	r = runCLI(t, b.env.with("PUSHGATEWAY_URL", url, "MONGO_URL", "mongodb://127.0.0.1:1/", "MONGO_TIMEOUT", "1s"), "backup")
	if r.code != exitFailed {
		t.Fatalf("want exit 1, got %s", r)
	}
	pushes = got()
	if len(pushes) != 2 {
		t.Fatalf("want 2 pushes, got %d", len(pushes))
	}
	mfs = parseMetrics(t, pushes[1].body)
	wantNoMetric(t, mfs, "mongostash_last_success_timestamp_seconds", nil)
	wantNoMetric(t, mfs, "mongostash_failures_total", nil) // runs_total{result="failure"} says it
	wantMetric(t, mfs, "mongostash_runs_total", map[string]string{"result": "failure"}, 1)

	// A Pushgateway that refuses: logged, redacted, and the backup still succeeds.
	bad, _ := fakePushgateway(t, http.StatusInternalServerError)
	badURL := strings.Replace(bad.URL, "http://", "http://pusher:"+password+"@", 1)
	r = runCLI(t, b.env, "backup", "--pushgateway", badURL)
	if r.code != exitOK {
		t.Fatalf("a refused push must not fail a good backup: %s", r)
	}
	if !strings.Contains(r.stderr, "could not push the metrics") || strings.Contains(r.stderr, password) {
		t.Errorf("want the push error logged without the password: %s", r.stderr)
	}
}
