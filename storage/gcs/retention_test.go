package gcs

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestLockFromRetention: the object retention fake-gcs-server records (set through the
// plain client) reads back as a lock: unlocked as governance, locked as compliance, none
// as no lock.
func TestLockFromRetention(t *testing.T) {
	b := testenv.NewGCSBucket(t)
	s := newTestStore(t, testConfig(b))
	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	for _, k := range []string{"plain", "unlocked", "locked"} {
		storagetest.MustPut(t, s, k, []byte(k))
	}
	for key, mode := range map[string]string{"unlocked": "Unlocked", "locked": "Locked"} {
		upd := map[string]any{"retention": map[string]string{"mode": mode, "retainUntilTime": until.Format(time.RFC3339)}}
		if err := b.Client.PatchObject(ctxFor(t), b.Name, key, upd); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
	}
	for key, want := range map[string]ourstorage.Lock{
		"plain":    {},
		"unlocked": {Mode: "GOVERNANCE", Until: until},
		"locked":   {Mode: "COMPLIANCE", Until: until},
	} {
		got, err := s.Lock(ctxFor(t), key, "")
		if err != nil || got.Mode != want.Mode || !got.Until.Equal(want.Until) {
			t.Errorf("Lock(%s) = %+v, %v; want %+v", key, got, err, want)
		}
	}
	if _, err := s.Lock(ctxFor(t), "absent", ""); !errors.Is(err, ourstorage.ErrNotFound) {
		t.Errorf("Lock(absent) = %v, want ErrNotFound", err)
	}
}

// TestLockFromHolds (recorded answers: fake-gcs-server keeps no holds and no bucket
// retention policy): an event-based or a temporary hold is a hold without an end, whatever
// the retention; the bucket policy's expiration is compliance when the policy is locked.
func TestLockFromHolds(t *testing.T) {
	obj := func(extra string) func(w http.ResponseWriter) {
		return answer(200, `{"kind":"storage#object","bucket":"bkt","name":"k","generation":"7","size":"1",`+extra+`}`)
	}
	s := recorded(t, map[string]func(w http.ResponseWriter){
		"/o/event":  obj(`"eventBasedHold":true,"retention":{"mode":"Unlocked","retainUntilTime":"2030-01-01T00:00:00Z"}`),
		"/o/temp":   obj(`"temporaryHold":true`),
		"/o/policy": obj(`"retentionExpirationTime":"2031-01-02T03:04:05Z","retention":{"mode":"Unlocked","retainUntilTime":"2030-01-01T00:00:00Z"}`),
		"/b/bkt":    answer(200, `{"kind":"storage#bucket","name":"bkt","retentionPolicy":{"retentionPeriod":"86400","effectiveTime":"2024-05-06T07:08:09.123Z","isLocked":true}}`),
	})
	for key, want := range map[string]ourstorage.Lock{
		"event":  {Mode: ourstorage.LockHold, Until: ourstorage.HoldUntil},
		"temp":   {Mode: ourstorage.LockHold, Until: ourstorage.HoldUntil},
		"policy": {Mode: "COMPLIANCE", Until: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		got, err := s.Lock(ctxFor(t), key, "")
		if err != nil || got.Mode != want.Mode || !got.Until.Equal(want.Until) {
			t.Errorf("Lock(%s) = %+v, %v; want %+v", key, got, err, want)
		}
	}
}

// TestPutWithRetention: with a retention mode, every object Put writes carries an object
// retention of that mode until about now + the period: in the request that creates it
// (the single upload, or the start of a resumable one), and, for the single upload, as
// the emulator recorded it (fake-gcs-server drops the retention of resumable uploads, so
// for those only the request shape is checked).
func TestPutWithRetention(t *testing.T) {
	b := testenv.NewGCSBucket(t)
	log := &bodyLog{}
	testWrap = func(next http.RoundTripper) http.RoundTripper { log.next = next; return log }
	cfg := testConfig(b)
	cfg.RetentionMode, cfg.RetentionPeriod = "locked", 24*time.Hour
	s := newTestStore(t, cfg)
	testWrap = nil
	before := time.Now()
	storagetest.MustPut(t, s, "small", []byte("x"))
	storagetest.MustPut(t, s, "big", storagetest.Data(1, 3*cfg.ChunkSize))
	starts := log.starts()
	if len(starts) != 2 {
		t.Fatalf("%d upload starts recorded, want 2", len(starts))
	}
	for i, body := range starts {
		if !strings.Contains(body, `"retention":{"mode":"Locked","retainUntilTime":"`) {
			t.Errorf("upload %d does not ask for the retention: %.300s", i, body)
		}
	}
	l, err := s.Lock(ctxFor(t), "small", "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Mode != "COMPLIANCE" || l.Until.Before(before.Add(24*time.Hour-time.Second)) || l.Until.After(time.Now().Add(24*time.Hour+time.Second)) {
		t.Errorf("small: lock %+v, want compliance until about a day from now", l)
	}
}

// bodyLog keeps the first KiB of the bodies of requests that start an upload.
type bodyLog struct {
	mu     sync.Mutex
	bodies []string
	next   http.RoundTripper
}

func (l *bodyLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if t := r.URL.Query().Get("uploadType"); (t == "multipart" || t == "resumable") && r.Header.Get("Content-Range") == "" && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		l.mu.Lock()
		l.bodies = append(l.bodies, string(b[:min(len(b), 1024)]))
		l.mu.Unlock()
	}
	return l.next.RoundTrip(r)
}

func (l *bodyLog) starts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.bodies)
}

// TestVersions: in a versioned bucket an overwritten or deleted key keeps noncurrent
// generations, which ListVersions lists (the live one first, then newest first) and
// DeleteVersions removes for good.
func TestVersions(t *testing.T) {
	b := testenv.NewVersionedGCSBucket(t)
	s := newTestStore(t, testConfig(b))
	storagetest.MustPut(t, s, "k", []byte("v1"))
	storagetest.MustPut(t, s, "k", []byte("v2"))
	storagetest.MustPut(t, s, "gone", []byte("g1"))
	if err := s.Delete(ctxFor(t), "gone"); err != nil {
		t.Fatal(err)
	}
	vs, err := s.ListVersions(ctxFor(t), "")
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, v := range vs {
		desc = append(desc, v.Key+map[bool]string{true: " live", false: " noncurrent"}[v.Latest])
	}
	if want := []string{"gone noncurrent", "k live", "k noncurrent"}; !slices.Equal(desc, want) {
		t.Fatalf("versions %q, want %q", desc, want)
	}
	if err := s.DeleteVersions(ctxFor(t), []ourstorage.Version{vs[0], vs[2]}); err != nil {
		t.Fatal(err)
	}
	vs, err = s.ListVersions(ctxFor(t), "")
	if err != nil || len(vs) != 1 || vs[0].Key != "k" || !vs[0].Latest {
		t.Fatalf("after DeleteVersions: %+v, %v", vs, err)
	}
	if got := string(storagetest.MustGet(t, s, "k")); got != "v2" {
		t.Fatalf("k = %q", got)
	}
	if !strings.HasPrefix(vs[0].VersionID, "1") && vs[0].VersionID == "" {
		t.Fatalf("version ID %q", vs[0].VersionID)
	}
}
