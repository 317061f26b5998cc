package s3

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
)

// TestPutIfLostAnswer: a conditional write whose first attempt took effect but whose
// answer was lost is retried, the store refuses the retry (the key now exists, or its tag
// changed) — and PutIf still reports its own write as done, with the tag the store holds,
// because the key holds exactly its data. A refusal of a write that did not land stays
// ErrPrecondition.
func TestPutIfLostAnswer(t *testing.T) {
	b := testenv.NewBucket(t)
	target, err := url.Parse(b.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	drop := 0 // conditional PUTs whose answer is dropped after the store handled them
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conditional := r.Method == http.MethodPut && (r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Match") != "")
		mu.Lock()
		cut := conditional && drop > 0
		if cut {
			drop--
		}
		mu.Unlock()
		if !cut {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r) // the store writes; the client never hears
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		c.Close()
	}))
	defer srv.Close()
	cfg := testConfig(b)
	cfg.Endpoint = srv.URL
	s := newTestStore(t, cfg)
	ctx := ctxFor(t)
	for _, step := range []struct{ data, ifTag string }{{"first", ""}, {"second", "from the first"}} {
		ifTag := step.ifTag
		if ifTag != "" {
			cur, err := s.ReadTagged(ctx, "lease")
			if err != nil {
				t.Fatal(err)
			}
			ifTag = cur.Tag
		}
		mu.Lock()
		drop = 1
		mu.Unlock()
		before := s.retries.Load()
		tag, err := s.PutIf(ctx, "lease", []byte(step.data), ifTag)
		if err != nil {
			t.Fatalf("PutIf(%s) after a lost answer: %v", step.data, err)
		}
		if s.retries.Load() == before {
			t.Fatalf("PutIf(%s) was not retried: the lost answer was not exercised", step.data)
		}
		got, err := s.ReadTagged(ctx, "lease")
		if err != nil || string(got.Data) != step.data || got.Tag != tag {
			t.Fatalf("after PutIf(%s): %q tag %q (%v), want tag %q", step.data, got.Data, got.Tag, err, tag)
		}
	}
	if _, err := s.PutIf(ctx, "lease", []byte("third"), ""); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("PutIf(if absent) on an existing key = %v, want ErrPrecondition", err)
	}
}
