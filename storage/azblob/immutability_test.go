package azblob

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
)

// Azurite has no version-level immutability and no legal holds, so these tests check the
// request shapes and the parsing of the service's answers against a server that replays
// recorded answers of the Blob service (its documented headers and error bodies).

const answerImmutable = `<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobImmutableDueToPolicy</Code><Message>This operation is not permitted as the blob is immutable due to a policy.
RequestId:0f1e2d3c-0001-0002-0003-000405060708
Time:2025-01-02T03:04:05.0000000Z</Message></Error>`

// replay is a store on a server answering HEAD (Get Blob Properties) of a key with the
// headers headers[key], DELETE of "locked" with 409 BlobImmutableDueToPolicy, and
// recording every PUT's headers.
func replay(t *testing.T, headers map[string]map[string]string, cfg Config) (*Store, func() []http.Header) {
	t.Helper()
	var mu sync.Mutex
	var puts []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		switch r.Method {
		case http.MethodHead:
			h, ok := headers[key]
			if !ok {
				w.Header().Set("x-ms-error-code", "BlobNotFound")
				w.WriteHeader(404)
				return
			}
			for k, v := range h {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Length", "1")
			w.Header().Set("ETag", `"0x8DC"`)
			w.Header().Set("Last-Modified", "Thu, 02 Jan 2025 03:04:05 GMT")
			w.WriteHeader(200)
		case http.MethodDelete:
			if key == "locked" {
				w.Header().Set("x-ms-error-code", "BlobImmutableDueToPolicy")
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(409)
				_, _ = w.Write([]byte(answerImmutable))
				return
			}
			w.WriteHeader(202)
		case http.MethodPut:
			mu.Lock()
			puts = append(puts, r.Header.Clone())
			mu.Unlock()
			w.Header().Set("ETag", `"0x8DD"`)
			w.Header().Set("Last-Modified", "Thu, 02 Jan 2025 03:04:05 GMT")
			w.WriteHeader(201)
		}
	}))
	t.Cleanup(srv.Close)
	cfg.Endpoint, cfg.Account, cfg.Key, cfg.Container, cfg.MaxRetries = srv.URL+"/acct", "acct", testenv.AzureKey, "ctr", -1
	return newTestStore(t, cfg), func() []http.Header { mu.Lock(); defer mu.Unlock(); return puts }
}

// TestLockFromImmutability: a legal hold is a hold without an end, whatever the policy; an
// unlocked immutability policy is governance, a locked one compliance, until its expiry;
// a blob with neither has no lock; an absent one is ErrNotFound.
func TestLockFromImmutability(t *testing.T) {
	until := "Fri, 03 Jan 2031 04:05:06 GMT"
	s, _ := replay(t, map[string]map[string]string{
		"plain":    {},
		"held":     {"x-ms-legal-hold": "true", "x-ms-immutability-policy-until-date": until, "x-ms-immutability-policy-mode": "unlocked"},
		"unlocked": {"x-ms-immutability-policy-until-date": until, "x-ms-immutability-policy-mode": "unlocked"},
		"locked":   {"x-ms-immutability-policy-until-date": until, "x-ms-immutability-policy-mode": "locked", "x-ms-legal-hold": "false"},
	}, Config{})
	u := time.Date(2031, 1, 3, 4, 5, 6, 0, time.UTC)
	for key, want := range map[string]storage.Lock{
		"plain":    {},
		"held":     {Mode: storage.LockHold, Until: storage.HoldUntil},
		"unlocked": {Mode: "GOVERNANCE", Until: u},
		"locked":   {Mode: "COMPLIANCE", Until: u},
	} {
		got, err := s.Lock(ctxFor(t), key, "")
		if err != nil || got.Mode != want.Mode || !got.Until.Equal(want.Until) {
			t.Errorf("Lock(%s) = %+v, %v; want %+v", key, got, err, want)
		}
	}
	if _, err := s.Lock(ctxFor(t), "absent", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Lock(absent) = %v, want ErrNotFound", err)
	}
}

// TestDeleteRefusedForImmutability: the service's refusal to delete an immutable blob is a
// storage.ErrLocked of that key, in the service's words; the other keys are deleted.
func TestDeleteRefusedForImmutability(t *testing.T) {
	s, _ := replay(t, nil, Config{})
	err := s.Delete(ctxFor(t), "a", "locked", "b")
	locked, other := storage.SplitDeleteError(err)
	if other != nil || len(locked) != 1 || locked[0].Key != "locked" {
		t.Fatalf("locked %v, other %v (from %v)", locked, other, err)
	}
	if !strings.Contains(locked[0].Err.Error(), "BlobImmutableDueToPolicy") {
		t.Errorf("refusal %q not in the service's words", locked[0].Err)
	}
}

// TestPutWithImmutability: with an immutability mode, the request that creates the blob
// (Put Blob, or Put Block List of a staged one) asks for the policy of that mode until
// about now + the period.
func TestPutWithImmutability(t *testing.T) {
	s, puts := replay(t, nil, Config{ImmutabilityMode: "Locked", ImmutabilityPeriod: 24 * time.Hour, BlockSize: MinBlockSize})
	before := time.Now()
	if _, err := s.Put(ctxFor(t), "small", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctxFor(t), "big", strings.NewReader(strings.Repeat("y", 2*MinBlockSize+1))); err != nil {
		t.Fatal(err)
	}
	var creating []http.Header
	for _, h := range puts() {
		if h.Get("x-ms-blob-type") != "" || strings.Contains(h.Get("Content-Type"), "xml") { // Put Blob, Put Block List
			creating = append(creating, h)
		}
	}
	if len(creating) != 2 {
		t.Fatalf("%d creating requests, want 2", len(creating))
	}
	for i, h := range creating {
		if h.Get("x-ms-immutability-policy-mode") != "Locked" {
			t.Errorf("request %d: mode %q", i, h.Get("x-ms-immutability-policy-mode"))
		}
		until, err := time.Parse(time.RFC1123, h.Get("x-ms-immutability-policy-until-date"))
		if err != nil || until.Before(before.Add(24*time.Hour-2*time.Second)) || until.After(time.Now().Add(24*time.Hour+time.Second)) {
			t.Errorf("request %d: until %q (%v)", i, h.Get("x-ms-immutability-policy-until-date"), err)
		}
	}
}
