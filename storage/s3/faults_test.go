package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// faultProxy runs Toxiproxy in-process between the store and versitygw and returns the
// proxy's endpoint URL and the proxy, to add toxics to.
func faultProxy(t *testing.T, b *testenv.Bucket) (string, *toxiproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(b.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "s3", "127.0.0.1:0", u.Host)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return "http://" + p.Listen, p
}

// addToxic adds a toxic, e.g. `{"type":"limit_data","stream":"upstream","attributes":{"bytes":1000}}`.
func addToxic(t *testing.T, p *toxiproxy.Proxy, spec string) {
	t.Helper()
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		t.Fatalf("add toxic %s: %v", spec, err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// directSHA256 reads key straight from versitygw, bypassing the proxy and the store.
func directSHA256(t *testing.T, b *testenv.Bucket, key string) string {
	t.Helper()
	out, err := b.Client.GetObject(ctxFor(t), &awss3.GetObjectInput{Bucket: &b.Name, Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s directly: %v", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestUploadConnectionResets cuts connections while parts are sent and checks that the
// upload either stores exactly the stream or fails leaving nothing behind.
func TestUploadConnectionResets(t *testing.T) {
	for _, tc := range []struct {
		name string
		// toxic cuts or resets client → store traffic
		toxic string
		// healAfter removes the toxic once that many requests were retried: the faults
		// certainly happen, and then let the retries win.
		healAfter  int64
		maxRetries int
	}{
		{
			// Every connection is closed after 3 MiB from the client, in the middle of a
			// part, until five requests were retried.
			name:      "connections cut mid-part",
			toxic:     `{"name":"cut","type":"limit_data","stream":"upstream","attributes":{"bytes":3145728}}`,
			healAfter: 5,
		},
		{
			// A third of the new connections are reset (TCP RST) at their first bytes.
			name:  "random resets",
			toxic: `{"type":"reset_peer","stream":"upstream","toxicity":0.33,"attributes":{"timeout":0}}`,
		},
		{
			// No connection can carry a whole part: the upload must fail, cleanly.
			name:       "no part can pass",
			toxic:      `{"type":"limit_data","stream":"upstream","attributes":{"bytes":3145728}}`,
			maxRetries: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testenv.NewBucket(t)
			endpoint, p := faultProxy(t, b)
			cfg := testConfig(b)
			cfg.Endpoint = endpoint
			cfg.MaxRetries = tc.maxRetries
			s := newTestStore(t, cfg)
			addToxic(t, p, tc.toxic)
			healed := make(chan struct{})
			if tc.healAfter > 0 {
				ctx, stop := context.WithCancel(context.Background())
				defer stop()
				go func() {
					defer close(healed)
					for s.retries.Load() < tc.healAfter {
						select {
						case <-ctx.Done():
							return
						case <-time.After(time.Millisecond):
						}
					}
					_ = p.Toxics.RemoveToxic(ctx, "cut")
				}()
			}
			data := storagetest.Data(11, 4*MinPartSize+MinPartSize/2) // five parts
			res, err := s.Put(ctxFor(t), "k", bytes.NewReader(data))
			t.Logf("Put: %d retries, error: %v", s.retries.Load(), err)
			if tc.healAfter > 0 {
				select {
				case <-healed:
				default:
					t.Errorf("only %d requests were retried: the faults did not happen as planned", s.retries.Load())
				}
			}
			if err != nil {
				if tc.healAfter > 0 {
					t.Fatalf("Put failed: %v", err)
				}
				if !strings.Contains(err.Error(), "upload k to") {
					t.Errorf("error %q does not say what failed", err)
				}
				checkNothingLeft(t, b)
				return
			}
			if tc.name == "no part can pass" {
				t.Fatalf("Put succeeded although no part could pass")
			}
			if res.SHA256 != sha(data) || res.Size != int64(len(data)) {
				t.Fatalf("Put = %+v, want size %d sha256 %s", res, len(data), sha(data))
			}
			if got := directSHA256(t, b, "k"); got != sha(data) {
				t.Fatalf("stored object has sha256 %s, want %s", got, sha(data))
			}
			if left := uploadsLeft(t, b); len(left) != 0 {
				t.Fatalf("left behind: %q", left)
			}
		})
	}
}

// TestDownloadResumes cuts every connection after 3 MiB from the store: the reader must
// resume each time from the byte it stopped at and deliver exactly the object.
func TestDownloadResumes(t *testing.T) {
	b := testenv.NewBucket(t)
	data := storagetest.Data(12, 20<<20)
	storagetest.MustPut(t, newTestStore(t, testConfig(b)), "k", data)

	endpoint, p := faultProxy(t, b)
	cfg := testConfig(b)
	cfg.Endpoint = endpoint
	cfg.MaxRetries = 3 // per stretch without progress: enough, since each connection makes progress
	s := newTestStore(t, cfg)
	addToxic(t, p, `{"type":"limit_data","stream":"downstream","attributes":{"bytes":3145728}}`)
	r, err := s.Get(ctxFor(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha(data) || n != int64(len(data)) {
		t.Fatalf("read %d bytes with sha256 %s, want %d bytes with %s", n, got, len(data), sha(data))
	}
	if got := s.retries.Load(); got < 6 {
		t.Errorf("%d resumes, want at least 6 for 20 MiB through 3 MiB connections", got)
	}
	// A read after the end keeps saying so.
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read after the end = %d, %v", n, err)
	}
}

// TestDownloadGivesUp resets every connection once the download has started: the reader
// must give up after MaxRetries attempts without progress, with an error, never a short
// read that looks like the end.
func TestDownloadGivesUp(t *testing.T) {
	b := testenv.NewBucket(t)
	data := storagetest.Data(13, 8<<20)
	storagetest.MustPut(t, newTestStore(t, testConfig(b)), "k", data)
	endpoint, p := faultProxy(t, b)
	cfg := testConfig(b)
	cfg.Endpoint = endpoint
	cfg.MaxRetries = 3
	s := newTestStore(t, cfg)
	r, err := s.Get(ctxFor(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	addToxic(t, p, `{"type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`)
	n, err := io.Copy(io.Discard, r)
	if err == nil {
		t.Fatalf("read %d more bytes and no error, want an error", n)
	}
	if !strings.Contains(err.Error(), "without progress") && !strings.Contains(err.Error(), "resume at byte") {
		t.Errorf("error %q does not say the download gave up", err)
	}
	t.Logf("read %d more bytes, then: %v", n, err)
}

// TestDownloadObjectReplaced replaces the object in the middle of a download that is then
// interrupted: the resumed read must refuse to mix the two versions.
func TestDownloadObjectReplaced(t *testing.T) {
	b := testenv.NewBucket(t)
	direct := newTestStore(t, testConfig(b))
	storagetest.MustPut(t, direct, "k", storagetest.Data(14, 8<<20))
	endpoint, p := faultProxy(t, b)
	cfg := testConfig(b)
	cfg.Endpoint = endpoint
	s := newTestStore(t, cfg)
	addToxic(t, p, `{"type":"limit_data","stream":"downstream","attributes":{"bytes":3145728}}`)
	r, err := s.Get(ctxFor(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	storagetest.MustPut(t, direct, "k", storagetest.Data(15, 8<<20))
	_, err = io.Copy(io.Discard, r)
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("read across a replacement = %v, want an error saying the object changed", err)
	}
}

// TestCancelDuringUpload cancels a multipart upload while parts are in flight through a
// slow link, and checks nothing is left.
func TestCancelDuringUpload(t *testing.T) {
	b := testenv.NewBucket(t)
	endpoint, p := faultProxy(t, b)
	cfg := testConfig(b)
	cfg.Endpoint = endpoint
	s := newTestStore(t, cfg)
	// 20 MB/s: parts take a quarter of a second each.
	addToxic(t, p, `{"type":"bandwidth","stream":"upstream","attributes":{"rate":20000}}`)
	ctx, cancel := context.WithCancel(ctxFor(t))
	r := &cancelAfter{r: bytes.NewReader(storagetest.Data(16, 6*MinPartSize)), n: 3 * MinPartSize, cancel: cancel}
	_, err := s.Put(ctx, "k", r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	checkNothingLeft(t, b)
}

// cancelAfter cancels a context once n bytes were read, and goes on reading.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 && c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	return n, err
}
