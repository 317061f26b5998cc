package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	s3store "github.com/mongostash/mongostash/storage/s3"
	"github.com/mongostash/mongostash/stream"
)

// pwChains reads the bed's archived oplog through mongostash's own store and catalog.
func pwChains(t *testing.T, b *bed) (*s3store.Store, *catalog.OplogCatalog, catalog.Chains) {
	t.Helper()
	st, err := s3store.New(context.Background(), s3store.Config{Endpoint: b.bucket.Endpoint, Bucket: b.bucket.Name,
		Region: b.bucket.Region, AccessKey: b.bucket.AccessKey, SecretKey: b.bucket.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := catalog.ReadOplogCatalog(context.Background(), st, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(oc.Incomplete()) > 0 || len(oc.OrphanManifests) > 0 {
		t.Fatalf("incomplete chunks %v or orphan manifests %v", oc.Incomplete(), oc.OrphanManifests)
	}
	return st, oc, oc.BuildChains()
}

// pwEntries decodes a (zstd) chunk into its entries.
func pwEntries(t *testing.T, st *s3store.Store, c catalog.Chunk) []bson.Raw {
	t.Helper()
	rc, err := st.Get(context.Background(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	plain, _, err := stream.Open(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(plain)
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	for len(data) > 0 {
		n := int(binary.LittleEndian.Uint32(data))
		out = append(out, bson.Raw(data[:n]))
		data = data[n:]
	}
	return out
}

// pwOplogOf is what the oplog holds in (after, upTo] for database db.
func pwOplogOf(t *testing.T, b *bed, db string, after, upTo optime.Timestamp) []bson.Raw {
	t.Helper()
	src, err := oplog.OpenSource(context.Background(), b.mongo.Client)
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	err = src.ReadRange(context.Background(), after, upTo, 1000, func(raw bson.Raw) error {
		ts, _ := oplog.EntryTimestamp(raw)
		ns, _ := raw.Lookup("ns").StringValueOK()
		if ts.After(after) && strings.HasPrefix(ns, db+".") {
			out = append(out, append(bson.Raw(nil), raw...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pwWrite(t *testing.T, b *bed, from, n int) {
	t.Helper()
	c := b.mongo.Client.Database(b.mongo.DB).Collection("events")
	for i := from; i < from+n; i++ {
		if _, err := c.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}, {Key: "v", Value: i}}); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if _, err := c.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: i}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: -i}}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestPitrSIGTERMFlushesAndExitsZero runs the real binary as a Deployment would, with an
// interval far longer than the test: it serves /healthz and its metrics, and on SIGTERM it
// writes the chunk in progress, complete with its manifest, holding exactly the oplog's
// entries of MONGO_DATABASE up to the last write, and exits 0.
func TestPitrSIGTERMFlushesAndExitsZero(t *testing.T) {
	b := newOplogBed(t)
	metricsFile := filepath.Join(t.TempDir(), "pitr.prom")
	d := startBinary(t, b.env.with("METRICS_FILE", metricsFile), "pitr", "--interval", "1h", "--poll", "100ms", "--listen", "127.0.0.1:0")
	url := d.listenAddr()
	d.waitFor("the start of a chain", 30*time.Second, countMsg("starting a new chain", 1))
	pwWrite(t, b, 0, 50)
	// Another database's writes advance the range but are not archived.
	other := b.mongo.Client.Database(testenv.UniqueName("other"))
	t.Cleanup(func() { _ = other.Drop(context.Background()) })
	if _, err := other.Collection("x").InsertOne(context.Background(), bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	last := newestTS(t, b.mongo.Client)
	if code, body := httpGet(t, url+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %d %s", code, body)
	}
	_, text := httpGet(t, url+"/metrics")
	mfs := parseMetrics(t, text)
	for _, name := range []string{"mongostash_pitr_last_archived_timestamp_seconds", "mongostash_pitr_lag_seconds", "mongostash_pitr_chunks_total", "mongostash_pitr_bytes_total", "mongostash_pitr_gaps_total"} {
		if _, ok := metricValue(mfs, name, map[string]string{"operation": "pitr", "database": b.mongo.DB}); !ok {
			t.Errorf("metric %s missing:\n%s", name, text)
		}
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; log:\n%s", code, d.stderr.String())
	}
	if len(withMsg(d.logs(), "pitr stopped")) != 1 {
		t.Errorf("no 'pitr stopped' line:\n%s", d.stderr.String())
	}
	st, oc, cs := pwChains(t, b)
	if len(oc.Chunks) != 1 || len(cs.Chains) != 1 {
		t.Fatalf("want the one chunk SIGTERM flushed, got %+v", oc.Chunks)
	}
	prom, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	wantMetric(t, parseMetrics(t, string(prom)), "mongostash_pitr_chunks_total", map[string]string{"operation": "pitr"}, 1)
	c := oc.Chunks[0]
	if c.Until.Before(last) || c.Manifest.Scope.Database != b.mongo.DB {
		t.Fatalf("the chunk ends at %s (scope %s), before the last write %s", c.Until, c.Manifest.Scope, last)
	}
	got, want := pwEntries(t, st, c), pwOplogOf(t, b, b.mongo.DB, c.Since, c.Until)
	if len(got) != len(want) || len(got) < 62 {
		t.Fatalf("the chunk holds %d entries, the oplog %d of the database (want at least 62)", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("entry %d differs:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// TestPitrGapFailsHealth: entries lost while pitr was stopped make the next run write a
// gap marker, log at error that a new base backup is needed, fail /healthz and count the
// gap in its metrics — and go on archiving in a new chain.
func TestPitrGapFailsHealth(t *testing.T) {
	b := newOplogBed(t)
	args := []string{"pitr", "--interval", "300ms", "--poll", "50ms", "--listen", "127.0.0.1:0"}
	d := startCLI(t, b.env, args...)
	d.waitFor("the start of a chain", 30*time.Second, countMsg("starting a new chain", 1))
	pwWrite(t, b, 0, 20)
	d.waitFor("a chunk", 30*time.Second, countMsg("chunk written", 1))
	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.stderr.String())
	}
	pwWrite(t, b, 20, 20)
	if err := testenv.TrimOplog(context.Background(), b.mongo.Client, bson.Timestamp(newestTS(t, b.mongo.Client))); err != nil {
		t.Fatal(err)
	}
	pwWrite(t, b, 40, 5)

	d = startCLI(t, b.env, args...)
	url := d.listenAddr()
	d.waitFor("the gap", 30*time.Second, func(l []map[string]any) bool {
		for _, x := range l {
			if s, _ := x["msg"].(string); x["level"] == "ERROR" && strings.Contains(s, "gap in the archived oplog") && strings.Contains(s, "new base backup") {
				return true
			}
		}
		return false
	})
	code, body := httpGet(t, url+"/healthz")
	if code != 503 || !strings.Contains(body, "gap") || !strings.Contains(body, "base backup") {
		t.Errorf("/healthz after a gap: %d %s", code, body)
	}
	_, text := httpGet(t, url+"/metrics")
	wantMetric(t, parseMetrics(t, text), "mongostash_pitr_gaps_total", map[string]string{"operation": "pitr"}, 1)
	d.waitFor("a chunk of the new chain", 30*time.Second, countMsg("chunk written", 1))
	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.stderr.String())
	}
	_, oc, cs := pwChains(t, b)
	if len(oc.Gaps) != 1 || len(cs.Chains) != 2 || len(cs.Breaks) != 1 || cs.Breaks[0].Gap == nil {
		t.Fatalf("want one recorded gap between two chains: gaps %+v chains %+v", oc.Gaps, cs)
	}
}

// TestPitrUsageErrors: bad settings and a server without an oplog fail at once with exit
// 2 and a message that says what to do.
func TestPitrUsageErrors(t *testing.T) {
	b := newBed(t) // the shared test server, which keeps no oplog
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"interval":   {[]string{"pitr", "--interval", "0s"}, "PITR_INTERVAL"},
		"chunk size": {[]string{"pitr", "--chunk-size=0"}, "PITR_CHUNK_SIZE"},
		"no oplog":   {[]string{"pitr"}, "replica-set member"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, b.env, c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("want exit 2 naming %s, got %s", c.want, r)
			}
		})
	}
}

// TestPitrS3OutageFailsHealthThenRecovers: with the S3 server down, pitr keeps running,
// logs each failed upload, fails /healthz and counts the failures; once the server is back
// it stores the waiting chunk and the rest, /healthz passes again, and the archive is one
// chain with nothing incomplete.
func TestPitrS3OutageFailsHealthThenRecovers(t *testing.T) {
	b, gw := privateS3Bed(t)
	m := testenv.NewMongoWithOplog(t)
	b.mongo = m
	e := b.env.with("MONGO_URL", m.URL, "MONGO_DATABASE", m.DB, "S3_MAX_RETRIES", "0", "S3_TIMEOUT", "2s")
	d := startCLI(t, e, "pitr", "--interval", "300ms", "--poll", "50ms", "--listen", "127.0.0.1:0")
	url := d.listenAddr()
	pwWrite(t, b, 0, 10)
	d.waitFor("a chunk", 30*time.Second, countMsg("chunk written", 1))
	gw.Kill()
	pwWrite(t, b, 10, 10)
	d.waitFor("a failed upload", time.Minute, func(l []map[string]any) bool {
		for _, x := range l {
			if s, _ := x["msg"].(string); x["level"] == "ERROR" && strings.Contains(s, "store chunk") && strings.Contains(s, "uploaded again") {
				return true
			}
		}
		return false
	})
	if code, body := httpGet(t, url+"/healthz"); code != 503 || !strings.Contains(body, "failing since") {
		t.Errorf("/healthz during the outage: %d %s", code, body)
	}
	_, text := httpGet(t, url+"/metrics")
	if v, ok := metricValue(parseMetrics(t, text), "mongostash_pitr_failures_total", map[string]string{"operation": "pitr"}); !ok || v < 1 {
		t.Errorf("mongostash_pitr_failures_total = %v (%v)", v, ok)
	}
	if v, ok := metricValue(parseMetrics(t, text), "mongostash_build_info", map[string]string{"version": buildInfo().Version}); !ok || v != 1 {
		t.Errorf("mongostash_build_info = %v (%v)", v, ok)
	}
	before := len(withMsg(d.logs(), "chunk written"))
	gw.Start()
	pwWrite(t, b, 20, 10)
	d.waitFor("chunks after the outage", time.Minute, countMsg("chunk written", before+2))
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpGet(t, url+"/healthz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz after the outage: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := d.stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.stderr.String())
	}
	st, _, cs := pwChains(t, b)
	if len(cs.Chains) != 1 {
		t.Fatalf("want one chain across the outage, got %+v", cs)
	}
	ch := cs.Chains[0]
	var got []bson.Raw
	for _, c := range ch.Chunks {
		got = append(got, pwEntries(t, st, c)...)
	}
	want := pwOplogOf(t, b, m.DB, ch.Since, ch.Until)
	if len(got) != len(want) || len(got) < 37 {
		t.Fatalf("the chain holds %d entries, the oplog %d of the database (want at least 37)", len(got), len(want))
	}
}
