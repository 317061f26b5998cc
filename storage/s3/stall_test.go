package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestStalledEndpointFails: every operation against an endpoint that never answers fails
// with ErrStalled after three attempts (not the ten retries a flaky link gets); an upload
// makes twice as many: the PutObject, then the check whether it landed all the same.
func TestStalledEndpointFails(t *testing.T) {
	storagetest.TestStalledEndpoint(t, storagetest.Stalled{
		Open: func(t *testing.T, addr string) storage.Store {
			return newTestStore(t, Config{Endpoint: "http://" + addr, Bucket: "stalled", AccessKey: "key-id", SecretKey: "secret-key", Timeout: 200 * time.Millisecond})
		},
		CheckName: "check bucket",
		Check:     func(ctx context.Context, s storage.Store) error { return s.(*Store).CheckBucket(ctx) },
		Attempts:  map[string]int64{"upload": 2 * maxStallAttempts},
	})
}

// TestDownloadStallsMidBody: a store that stops sending in the middle of an object (here a
// loopback server that sends a quarter of it and then nothing, and answers no request after
// that) fails the read with ErrStalled, naming the key, instead of waiting for ever; the
// resumes, which stall too, are bounded the same way.
func TestDownloadStallsMidBody(t *testing.T) {
	body := storagetest.Data(21, 1<<20)
	var requests atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) > 1 {
			<-release // never answer again
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("ETag", `"0123"`)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/4])
		w.(http.Flusher).Flush()
		<-release // and the rest never comes
	}))
	defer srv.Close()
	defer close(release)
	s := newTestStore(t, Config{Endpoint: srv.URL, Bucket: "stalls", AccessKey: "key-id", SecretKey: "secret-key", Timeout: 300 * time.Millisecond})
	r, err := s.Get(ctxFor(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "download k from") || n != int64(len(body)/4) {
		t.Fatalf("after %d bytes: %v, want ErrStalled naming the key after %d bytes", n, err, len(body)/4)
	}
	if got := requests.Load(); got != 1+maxStallAttempts {
		t.Errorf("%d requests, want the first and %d attempts to resume", got, maxStallAttempts)
	}
	t.Logf("read %d bytes, then: %v", n, err)
}

// TestUploadStallsMidBody: a store that stops reading in the middle of a multipart upload
// fails the Put with ErrStalled; the abort, which stalls too, is reported as failed.
func TestUploadStallsMidBody(t *testing.T) {
	b := testenv.NewBucket(t)
	endpoint, p := faultProxy(t, b)
	cfg := testConfig(b)
	cfg.Endpoint = endpoint
	cfg.Timeout = 300 * time.Millisecond
	s := newTestStore(t, cfg)
	data := storagetest.Data(22, 4*MinPartSize)
	r := &toxicAfter{r: bytes.NewReader(data), n: 2 * MinPartSize, add: func() {
		addToxic(t, p, `{"type":"timeout","stream":"upstream","attributes":{"timeout":0}}`)
	}}
	_, err := s.Put(ctxFor(t), "k", r)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "upload k to") {
		t.Fatalf("Put = %v, want ErrStalled naming the key", err)
	}
	if !errors.Is(err, ErrUploadLeft) {
		t.Errorf("error %q does not say the abort failed too", err)
	}
}

// toxicAfter calls add once n bytes were read, and goes on reading.
type toxicAfter struct {
	r   io.Reader
	n   int
	add func()
}

func (c *toxicAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 && c.add != nil {
		c.add()
		c.add = nil
	}
	return n, err
}

// slowServer is an S3 endpoint on a slow link: it takes a PUT's body and sends a GET's at
// rate bytes a second, in small steady steps, and keeps one object in memory. It stands in
// for the store so that a slow link, not the load on a shared test server, sets the pace.
func slowServer(t *testing.T, rate int) string {
	t.Helper()
	const step = 4 << 10
	pace := func(start time.Time, moved int) {
		time.Sleep(time.Until(start.Add(time.Duration(float64(moved) / float64(rate) * float64(time.Second)))))
	}
	var mu sync.Mutex
	var object []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			var body bytes.Buffer
			buf := make([]byte, step)
			start := time.Now()
			for {
				n, err := r.Body.Read(buf)
				body.Write(buf[:n])
				pace(start, body.Len())
				if err != nil {
					break
				}
			}
			mu.Lock()
			object = body.Bytes()
			mu.Unlock()
			w.Header().Set("ETag", `"slow"`)
		case http.MethodGet:
			mu.Lock()
			data := object
			mu.Unlock()
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Header().Set("ETag", `"slow"`)
			start := time.Now()
			for off := 0; off < len(data); off += step {
				end := min(off+step, len(data))
				if _, err := w.Write(data[off:end]); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				pace(start, end)
			}
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSlowTransfersAreNotCut: transfers that take several times the timeout but keep moving
// succeed, both ways. The upload is the case a plain read deadline gets wrong: the answer
// is awaited by a read that blocks while the body is still leaving the machine.
func TestSlowTransfersAreNotCut(t *testing.T) {
	cfg := Config{Endpoint: slowServer(t, 256<<10), Bucket: "slow", AccessKey: "key-id", SecretKey: "secret-key",
		PartSize: MinPartSize, Timeout: time.Second, Logger: slog.New(slog.NewTextHandler(tlogWriter{t}, nil))}
	s := newTestStore(t, cfg)
	// 256 KiB/s: each transfer takes about eight seconds, eight times the timeout.
	data := storagetest.Data(23, 2<<20)
	start := time.Now()
	res, err := s.Put(ctxFor(t), "k", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	t.Logf("upload took %s", time.Since(start))
	if res.SHA256 != sha(data) {
		t.Fatalf("stored sha256 %s, want %s", res.SHA256, sha(data))
	}
	start = time.Now()
	r, err := s.Get(ctxFor(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("slow download: %v", err)
	}
	t.Logf("download took %s", time.Since(start))
	if got := hex.EncodeToString(h.Sum(nil)); got != sha(data) {
		t.Fatalf("read sha256 %s, want %s", got, sha(data))
	}
	if n := s.retries.Load(); n != 0 {
		t.Errorf("%d retries or resumes: a moving transfer was cut", n)
	}
}

// TestBucketNameChecked: names no store accepts are configuration errors quoting the rule;
// legacy names (uppercase, underscores) are left to the store.
func TestBucketNameChecked(t *testing.T) {
	for _, bad := range []string{"Bad_Bucket!!", "a/b", "ab", "", strings.Repeat("a", 256), "with space"} {
		_, err := New(context.Background(), Config{Bucket: bad, Region: "us-east-1", AccessKey: "k", SecretKey: "s"})
		if !errors.Is(err, ErrBucketName) || (bad != "" && !strings.Contains(err.Error(), BucketNamingRule)) {
			t.Errorf("bucket %q: got %v, want ErrBucketName with the rule", bad, err)
		}
	}
	for _, good := range []string{"my-backups", "Legacy_Bucket", "a.b.c"} {
		if _, err := New(context.Background(), Config{Bucket: good, Region: "us-east-1", AccessKey: "k", SecretKey: "s"}); err != nil {
			t.Errorf("bucket %q: %v", good, err)
		}
	}
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
