package s3

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
)

func lockedConfig(b *testenv.Bucket, mode string, period time.Duration) Config {
	cfg := testConfig(b)
	cfg.ObjectLockMode, cfg.ObjectLockPeriod = mode, period
	return cfg
}

// putData stores n random bytes under key with s.
func putData(t *testing.T, s *Store, key string, n int) {
	t.Helper()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	if _, err := s.Put(ctxFor(t), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// TestObjectLockOnEveryPut: a single PutObject and a multipart upload both carry the
// configured mode and retain-until, as the store reports them to a plain client.
func TestObjectLockOnEveryPut(t *testing.T) {
	b := testenv.NewLockedBucket(t)
	for _, mode := range []string{"governance", "compliance"} {
		s := newTestStore(t, lockedConfig(b, mode, 24*time.Hour))
		if err := s.CheckObjectLock(ctxFor(t)); err != nil {
			t.Fatalf("CheckObjectLock on a locked bucket: %v", err)
		}
		for name, size := range map[string]int{"small": 1000, "multipart": MinPartSize + 1000} {
			key := mode + "/" + name
			before := time.Now().Add(24 * time.Hour).Truncate(time.Second)
			putData(t, s, key, size)
			after := time.Now().Add(24 * time.Hour)
			head, err := b.Client.HeadObject(ctxFor(t), &awss3.HeadObjectInput{Bucket: &b.Name, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			until := aws.ToTime(head.ObjectLockRetainUntilDate)
			if string(head.ObjectLockMode) != strings.ToUpper(mode) || until.Before(before) || until.After(after) {
				t.Errorf("%s: mode %q until %v; want %s until between %v and %v", key, head.ObjectLockMode, until, strings.ToUpper(mode), before, after)
			}
			l, err := s.Lock(ctxFor(t), key, "")
			// HeadObject's header has whole seconds, GetObjectRetention may have more.
			if err != nil || l.Mode != strings.ToUpper(mode) || l.Until.Truncate(time.Second) != until || !l.Locked(time.Now()) || l.Locked(after.Add(time.Second)) {
				t.Errorf("Lock(%s) = %+v, %v; want %s until %v", key, l, err, strings.ToUpper(mode), until)
			}
		}
	}
	// Without a mode nothing is locked, even in a locked bucket.
	s := newTestStore(t, testConfig(b))
	putData(t, s, "plain", 10)
	if l, err := s.Lock(ctxFor(t), "plain", ""); err != nil || l != (storage.Lock{}) {
		t.Errorf("Lock(plain) = %+v, %v; want no lock", l, err)
	}
	if _, err := s.Lock(ctxFor(t), "absent", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Lock(absent) = %v, want ErrNotFound", err)
	}
}

// TestCheckObjectLockRefusesPlainBucket: asking for locks on a bucket without Object Lock
// fails before anything is written, saying how to enable it.
func TestCheckObjectLockRefusesPlainBucket(t *testing.T) {
	b := testenv.NewBucket(t)
	s := newTestStore(t, lockedConfig(b, ObjectLockGovernance, time.Hour))
	err := s.CheckObjectLock(ctxFor(t))
	if !errors.Is(err, ErrNoObjectLock) || !strings.Contains(err.Error(), b.Name) || !strings.Contains(err.Error(), "--object-lock-enabled-for-bucket") {
		t.Fatalf("CheckObjectLock = %v, want ErrNoObjectLock naming the bucket and how to enable it", err)
	}
}

func TestObjectLockConfigErrors(t *testing.T) {
	valid := Config{Endpoint: "http://127.0.0.1:1", Bucket: "bkt"}
	for _, tc := range []struct {
		mode   string
		period time.Duration
		want   string
	}{
		{"legal-hold", time.Hour, `mode "LEGAL-HOLD"`},
		{"", time.Hour, "needs a mode"},
		{"governance", 0, "not positive"},
		{"compliance", -time.Hour, "not positive"},
	} {
		cfg := valid
		cfg.ObjectLockMode, cfg.ObjectLockPeriod = tc.mode, tc.period
		if _, err := New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(mode %q, period %s) = %v, want an error containing %q", tc.mode, tc.period, err, tc.want)
		}
	}
}

// TestDeleteOfLockedVersions: in a locked (versioned) bucket, deleting a key only adds a
// delete marker; deleting a locked version is refused and reported as locked, while the
// other versions of the same call are deleted; once the lock expires it can be deleted.
func TestDeleteOfLockedVersions(t *testing.T) {
	b := testenv.NewLockedBucket(t)
	locked := newTestStore(t, lockedConfig(b, ObjectLockCompliance, 3*time.Second))
	plain := newTestStore(t, testConfig(b))
	putData(t, locked, "locked", 100)
	putData(t, plain, "free", 100)
	if err := plain.Delete(ctxFor(t), "locked", "free"); err != nil {
		t.Fatalf("Delete in a versioned bucket (delete markers): %v", err)
	}
	if left := objectsLeft(t, b); len(left) != 0 {
		t.Fatalf("current objects after Delete: %q", left)
	}
	vs, err := plain.ListVersions(ctxFor(t), "")
	if err != nil {
		t.Fatal(err)
	}
	var versions []storage.Version
	for _, v := range vs {
		if v.Latest != v.DeleteMarker {
			t.Errorf("%+v: the latest of each key is its delete marker, nothing else", v)
		}
		if !v.DeleteMarker {
			versions = append(versions, v)
		}
	}
	if len(vs) != 4 || len(versions) != 2 || vs[0].Key != "free" || !vs[0].Latest {
		t.Fatalf("ListVersions = %+v, want a marker and a version of each key, sorted, latest first", vs)
	}
	err = plain.DeleteVersions(ctxFor(t), versions)
	lockedKeys, other := storage.SplitDeleteError(err)
	if other != nil || len(lockedKeys) != 1 || lockedKeys[0].Key != "locked" || lockedKeys[0].VersionID == "" {
		t.Fatalf("DeleteVersions = %v; want only the locked version refused as locked", err)
	}
	vs, _ = plain.ListVersions(ctxFor(t), "free")
	for _, v := range vs {
		if !v.DeleteMarker {
			t.Errorf("the unlocked version was not deleted: %+v", v)
		}
	}
	// Once the retention has passed, the version can go.
	l, err := plain.Lock(ctxFor(t), "locked", lockedKeys[0].VersionID)
	if err != nil || !l.Locked(time.Now()) {
		t.Fatalf("Lock(locked version) = %+v, %v; want a lock in force", l, err)
	}
	time.Sleep(time.Until(l.Until) + 100*time.Millisecond)
	if err := plain.DeleteVersions(ctxFor(t), versions[1:]); err != nil {
		t.Fatalf("delete after the retention expired: %v", err)
	}
}

// refusingBatchProxy answers every DeleteObjects with a whole-request AccessDenied, as
// some stores and bucket policies do, and passes the rest to the real store.
func refusingBatchProxy(t *testing.T, b *testenv.Bucket, batches *atomic.Int32) string {
	t.Helper()
	target, err := url.Parse(b.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
			batches.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied because object protected by object lock.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDeleteBatchRefusedAsWhole: a DeleteObjects refused as a whole is retried key by key
// (the refusals there come from the real store), so the locked version is reported as
// locked and the others are deleted.
func TestDeleteBatchRefusedAsWhole(t *testing.T) {
	b := testenv.NewLockedBucket(t)
	putData(t, newTestStore(t, lockedConfig(b, ObjectLockGovernance, time.Hour)), "locked", 10)
	putData(t, newTestStore(t, testConfig(b)), "free", 10)
	var batches atomic.Int32
	cfg := testConfig(b)
	cfg.Endpoint = refusingBatchProxy(t, b, &batches)
	s := newTestStore(t, cfg)
	vs, err := s.ListVersions(ctxFor(t), "")
	if err != nil || len(vs) != 2 {
		t.Fatalf("ListVersions = %+v, %v", vs, err)
	}
	err = s.DeleteVersions(ctxFor(t), vs)
	lockedKeys, other := storage.SplitDeleteError(err)
	if batches.Load() != 1 || other != nil || len(lockedKeys) != 1 || lockedKeys[0].Key != "locked" {
		t.Fatalf("DeleteVersions = %v after %d batch requests; want one batch, then only the locked version refused", err, batches.Load())
	}
	if !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), "locked (version") {
		t.Errorf("error %q: want ErrLocked and the key named", err)
	}
	if left, _ := s.ListVersions(ctxFor(t), ""); len(left) != 1 || left[0].Key != "locked" {
		t.Errorf("left: %+v, want only the locked version", left)
	}
}

// TestLockCostsOneRequestWithoutObjectLock: on a bucket without Object Lock, reading locks
// asks the bucket once and no object at all.
func TestLockCostsOneRequestWithoutObjectLock(t *testing.T) {
	b := testenv.NewBucket(t)
	putKeysDirectly(t, b, []string{"a", "b", "c"})
	target, _ := url.Parse(b.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	var heads, configs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead:
			heads.Add(1)
		case r.URL.Query().Has("object-lock"):
			configs.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := testConfig(b)
	cfg.Endpoint = srv.URL
	s := newTestStore(t, cfg)
	for _, k := range []string{"a", "b", "c"} {
		if l, err := s.Lock(ctxFor(t), k, ""); err != nil || l != (storage.Lock{}) {
			t.Fatalf("Lock(%s) = %+v, %v", k, l, err)
		}
	}
	if heads.Load() != 0 || configs.Load() != 1 {
		t.Errorf("%d HEAD requests and %d lock configuration requests, want 0 and 1", heads.Load(), configs.Load())
	}
}
