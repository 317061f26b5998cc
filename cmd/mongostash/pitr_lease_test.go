package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestPitrSecondArchiverExitsOne: with `mongostash pitr` running (the real binary, as a
// Deployment's pod), a second one on the same prefix — a CronJob someone added, a second
// replica — exits 1 at once, naming the holder (host and pid) and when its lease expires,
// and writes nothing. After the first stops on SIGTERM (it releases the lease), a new one
// takes the prefix over at once.
func TestPitrSecondArchiverExitsOne(t *testing.T) {
	b := newOplogBed(t)
	first := startBinary(t, b.env, "pitr", "--interval", "300ms", "--poll", "50ms")
	first.waitFor("the lease", 30*time.Second, countMsg("lease taken", 1))
	pwWrite(t, b, 0, 10)
	first.waitFor("a chunk", 30*time.Second, countMsg("chunk written", 1))
	before := objectKeys(t, openTestStore(t, b))
	r := runCLI(t, b.env, "pitr", "--interval", "300ms", "--poll", "50ms")
	host, _ := os.Hostname()
	if r.code != 1 || !strings.Contains(r.stderr, "holds the lease") || !strings.Contains(r.stderr, "expires at") ||
		!strings.Contains(r.stderr, "host "+host) || !strings.Contains(r.stderr, "pid ") || !strings.Contains(r.stderr, catalog.LeaseKey("")) {
		t.Fatalf("a second pitr: want exit 1 naming the holder and the expiry, got %s", r)
	}
	after := objectKeys(t, openTestStore(t, b))
	for k := range after {
		if !before[k] && !strings.HasPrefix(k, "oplog/index") && k != catalog.LeaseKey("") {
			if _, ok := catalog.ParseChunkKey("", strings.TrimSuffix(k, catalog.ManifestSuffix)); !ok {
				t.Errorf("the refused pitr wrote %s", k)
			}
		}
	}
	if code := first.stop(); code != 0 {
		t.Fatalf("the first pitr after SIGTERM: exit %d\n%s", code, first.stderr.String())
	}
	if len(withMsg(first.logs(), "lease released")) != 1 {
		t.Errorf("no 'lease released' line:\n%s", first.stderr.String())
	}
	next := startCLI(t, b.env, "pitr", "--interval", "300ms", "--poll", "50ms")
	lines := next.waitFor("the lease taken over", 30*time.Second, countMsg("lease taken", 1))
	if over := withMsg(lines, "taking over the lease"); len(over) != 1 || over[0]["released"] != true {
		t.Errorf("the next pitr did not take the released lease over: %v", over)
	}
	if code := next.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, next.stderr.String())
	}
}

// TestPitrHealthTurnsAtTheFirstFailedAttempt: with the S3 store's retries at their
// default (ten, with backoff: minutes before an upload gives up), the S3 server killed
// while a chunk is due turns /healthz and the failure metric within a few seconds — while
// the upload is still being retried, before any "store chunk" error — and back once the
// server returns.
func TestPitrHealthTurnsAtTheFirstFailedAttempt(t *testing.T) {
	b, gw := privateS3Bed(t)
	m := testenv.NewMongoWithOplog(t)
	b.mongo = m
	e := b.env.with("MONGO_URL", m.URL, "MONGO_DATABASE", m.DB, "S3_TIMEOUT", "2s")
	d := startCLI(t, e, "pitr", "--interval", "300ms", "--poll", "50ms", "--listen", "127.0.0.1:0")
	url := d.listenAddr()
	pwWrite(t, b, 0, 10)
	d.waitFor("a chunk", 30*time.Second, countMsg("chunk written", 1))
	gw.Kill()
	killed := time.Now()
	pwWrite(t, b, 10, 10)
	for {
		code, body := httpGet(t, url+"/healthz")
		if code == 503 && strings.Contains(body, "retrying") {
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("/healthz %d %q 10 s after the S3 server died", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, text := httpGet(t, url+"/metrics")
	mfs := parseMetrics(t, text)
	if v, ok := metricValue(mfs, "mongostash_pitr_failures_total", map[string]string{"operation": "pitr"}); !ok || v < 1 {
		t.Errorf("mongostash_pitr_failures_total = %v (%v)", v, ok)
	}
	if v, _ := metricValue(mfs, "mongostash_pitr_failing", map[string]string{"operation": "pitr"}); v != 1 {
		t.Errorf("mongostash_pitr_failing = %v, want 1", v)
	}
	for _, l := range d.logs() {
		if s, _ := l["msg"].(string); l["level"] == "ERROR" && strings.Contains(s, "store chunk") {
			t.Fatalf("the upload had already given up (%s): the health did not turn before the retries ran out", s)
		}
	}
	gw.Start()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if code, _ := httpGet(t, url+"/healthz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/healthz did not pass again after the S3 server came back")
		}
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.stderr.String())
	}
}
