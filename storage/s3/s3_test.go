package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// testConfig is a configuration for bucket b with the smallest parts S3 allows, so that
// tests need only a few MiB to make several parts.
func testConfig(b *testenv.Bucket) Config {
	return Config{
		Endpoint:    b.Endpoint,
		Bucket:      b.Name,
		Region:      b.Region,
		AccessKey:   b.AccessKey,
		SecretKey:   b.SecretKey,
		PartSize:    MinPartSize,
		Concurrency: 3,
	}
}

func newTestStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.backoffBase = 5 * time.Millisecond // keep retries quick on loopback
	return s
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// uploadsLeft lists the multipart uploads in progress in b, through the plain SDK client.
func uploadsLeft(t testing.TB, b *testenv.Bucket) []string {
	t.Helper()
	out, err := b.Client.ListMultipartUploads(ctxFor(t), &awss3.ListMultipartUploadsInput{Bucket: &b.Name})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var left []string
	for _, u := range out.Uploads {
		left = append(left, "multipart upload of "+aws.ToString(u.Key))
	}
	return left
}

// objectsLeft lists the objects in b through the plain SDK client.
func objectsLeft(t testing.TB, b *testenv.Bucket) []string {
	t.Helper()
	out, err := b.Client.ListObjectsV2(ctxFor(t), &awss3.ListObjectsV2Input{Bucket: &b.Name})
	if err != nil {
		t.Fatalf("list objects: %v", err)
	}
	var left []string
	for _, o := range out.Contents {
		left = append(left, aws.ToString(o.Key))
	}
	return left
}

func checkNothingLeft(t testing.TB, b *testenv.Bucket) {
	t.Helper()
	if left := append(objectsLeft(t, b), uploadsLeft(t, b)...); len(left) != 0 {
		t.Errorf("left behind: %q", left)
	}
}

func TestContract(t *testing.T) {
	var buckets sync.Map // *Store → *testenv.Bucket
	storagetest.Run(t, storagetest.Options{
		New: func(t *testing.T) storage.Store {
			b := testenv.NewBucket(t)
			s := newTestStore(t, testConfig(b))
			buckets.Store(s, b)
			return s
		},
		Leftovers: func(t *testing.T, s storage.Store) []string {
			b, _ := buckets.Load(s)
			return uploadsLeft(t, b.(*testenv.Bucket))
		},
		Big: 2*MinPartSize + MinPartSize/2, // three parts
	})
}

// headPart returns the size of part n of key and the object's part count, as the store
// recorded them.
func headPart(t *testing.T, b *testenv.Bucket, key string, n int32) (size int64, parts int32) {
	t.Helper()
	out, err := b.Client.HeadObject(ctxFor(t), &awss3.HeadObjectInput{Bucket: &b.Name, Key: &key, PartNumber: &n})
	if err != nil {
		t.Fatalf("head part %d of %s: %v", n, key, err)
	}
	return aws.ToInt64(out.ContentLength), aws.ToInt32(out.PartsCount)
}

// TestPartLayout checks which request a stream becomes, and the parts the store recorded.
func TestPartLayout(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name     string
		maxParts int
		size     int
		want     []int64 // part sizes; nil = a single PutObject
	}{
		{"smaller than a part", 0, 5*mib - 1, nil},
		{"exactly one part", 0, 5 * mib, nil},
		{"one byte more", 0, 5*mib + 1, []int64{5 * mib, 1}},
		{"many parts", 0, 26 * mib, []int64{5 * mib, 5 * mib, 5 * mib, 5 * mib, 5 * mib, 1 * mib}},
		// With 4 parts no schedule reaches the target, so every part doubles.
		{"growing parts", 4, 30 * mib, []int64{5 * mib, 10 * mib, 15 * mib}},
		{"growing parts, exactly full", 3, 35 * mib, []int64{5 * mib, 10 * mib, 20 * mib}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testenv.NewBucket(t)
			cfg := testConfig(b)
			cfg.MaxParts = tc.maxParts
			s := newTestStore(t, cfg)
			data := storagetest.Data(1, tc.size)
			storagetest.MustPut(t, s, "k", data)
			if got := storagetest.MustGet(t, s, "k"); !bytes.Equal(got, data) {
				t.Fatalf("content differs")
			}
			head, err := b.Client.HeadObject(ctxFor(t), &awss3.HeadObjectInput{Bucket: &b.Name, Key: aws.String("k")})
			if err != nil {
				t.Fatal(err)
			}
			etag := strings.Trim(aws.ToString(head.ETag), `"`)
			if tc.want == nil {
				if strings.Contains(etag, "-") {
					t.Fatalf("ETag %s is a multipart upload's, want a single PutObject", etag)
				}
				return
			}
			if !strings.HasSuffix(etag, fmt.Sprintf("-%d", len(tc.want))) {
				t.Errorf("ETag %s, want a multipart ETag of %d parts", etag, len(tc.want))
			}
			var got []int64
			for n := int32(1); n <= int32(len(tc.want)); n++ {
				size, parts := headPart(t, b, "k", n)
				if parts != int32(len(tc.want)) {
					t.Fatalf("parts count %d, want %d", parts, len(tc.want))
				}
				got = append(got, size)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("part sizes %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMaxPartsExceeded(t *testing.T) {
	b := testenv.NewBucket(t)
	cfg := testConfig(b)
	cfg.MaxParts = 2 // 5 MiB + 10 MiB
	s := newTestStore(t, cfg)
	_, err := s.Put(ctxFor(t), "too-big", bytes.NewReader(storagetest.Data(2, 15<<20+1)))
	if err == nil || !strings.Contains(err.Error(), "longer than 15728640 bytes, all that 2 parts hold") {
		t.Fatalf("Put = %v, want the part limit error", err)
	}
	checkNothingLeft(t, b)
}

func TestPartSizes(t *testing.T) {
	for _, tc := range []struct {
		first    int64
		maxParts int
		minCap   int64
	}{
		{DefaultPartSize, DefaultMaxParts, MaxObjectSize},
		{MinPartSize, DefaultMaxParts, MaxObjectSize},
		{64 << 20, DefaultMaxParts, MaxObjectSize},
		{MaxPartSize, DefaultMaxParts, MaxObjectSize},
		{DefaultPartSize, 1000, 1000 * MaxPartSize / 2},
		{DefaultPartSize, 5000, MaxObjectSize},
	} {
		p := newPartSizes(tc.first, tc.maxParts)
		if got := p.capacity(); got < tc.minCap {
			t.Errorf("schedule(%d, %d) holds %d bytes, want at least %d", tc.first, tc.maxParts, got, tc.minCap)
		}
		prev := int64(0)
		for n := 1; n <= tc.maxParts; n++ {
			sz := p.size(n)
			if sz < prev || sz > MaxPartSize || sz < tc.first {
				t.Fatalf("schedule(%d, %d): part %d is %d bytes after %d", tc.first, tc.maxParts, n, sz, prev)
			}
			prev = sz
		}
		// Parts grow no earlier than needed: one more part per tier would miss the target.
		q := p
		q.perTier++
		if q.perTier <= tc.maxParts && q.capacity() >= min(int64(MaxObjectSize), int64(tc.maxParts)*MaxPartSize/2) {
			t.Errorf("schedule(%d, %d): perTier %d is not the largest that reaches the target", tc.first, tc.maxParts, p.perTier)
		}
	}
	// The defaults, as partSizes's comment describes them: 1,245 parts of 16 MiB, and
	// no 4 GiB part before 4.8 TiB.
	p := newPartSizes(DefaultPartSize, DefaultMaxParts)
	var before4G int64
	for n := 1; p.size(n) < 4<<30; n++ {
		before4G += p.size(n)
	}
	if p.perTier != 1245 || p.size(1245) != 16<<20 || p.size(1246) != 32<<20 || before4G < 48<<40/10 || p.size(DefaultMaxParts) != 4<<30 {
		t.Errorf("default schedule: %d parts per tier, %d bytes before the first 4 GiB part, last part %d bytes",
			p.perTier, before4G, p.size(DefaultMaxParts))
	}
	t.Logf("default schedule: %d parts per tier (first %d GiB in %d MiB parts), capacity %.2f TiB, last part %d MiB",
		p.perTier, int64(p.perTier)*DefaultPartSize>>30, DefaultPartSize>>20, float64(p.capacity())/(1<<40), p.size(DefaultMaxParts)>>20)
}

func TestConfigErrors(t *testing.T) {
	valid := Config{Endpoint: "http://127.0.0.1:1", Bucket: "bkt", AccessKey: "AKIAEXAMPLEKEY", SecretKey: "very-secret-value"}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no bucket", func(c *Config) { c.Bucket = "" }, "no bucket"},
		{"access key only", func(c *Config) { c.SecretKey = "" }, "both the access key and the secret key"},
		{"secret key only", func(c *Config) { c.AccessKey = "" }, "both the access key and the secret key"},
		{"bad endpoint", func(c *Config) { c.Endpoint = "ftp://host" }, "not an http(s) URL"},
		{"part too small", func(c *Config) { c.PartSize = 1 << 20 }, "part size 1048576"},
		{"part too large", func(c *Config) { c.PartSize = 6 << 30 }, "part size"},
		{"concurrency", func(c *Config) { c.Concurrency = -1 }, "concurrency"},
		{"max parts", func(c *Config) { c.MaxParts = 10001 }, "maximum number of parts"},
		{"sse", func(c *Config) { c.SSE = "rot13" }, "server-side encryption"},
		{"kms key without kms", func(c *Config) { c.SSEKMSKeyID = "key" }, "KMS key"},
		{"missing CA file", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "read CA file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mod(&cfg)
			_, err := New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "very-secret-value") {
				t.Fatalf("error shows the secret key: %v", err)
			}
		})
	}
	s, err := New(context.Background(), valid)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "s3://bkt at http://127.0.0.1:1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestCheckBucket(t *testing.T) {
	b := testenv.NewBucket(t)
	ctx := ctxFor(t)
	if err := newTestStore(t, testConfig(b)).CheckBucket(ctx); err != nil {
		t.Fatalf("CheckBucket(existing) = %v", err)
	}
	cfg := testConfig(b)
	cfg.Bucket = "no-such-bucket-" + strings.ToLower(testenv.UniqueName(""))
	err := newTestStore(t, cfg).CheckBucket(ctx)
	if !errors.Is(err, ErrNoSuchBucket) || !strings.Contains(err.Error(), cfg.Bucket) {
		t.Errorf("CheckBucket(missing) = %v, want ErrNoSuchBucket naming the bucket", err)
	}
	cfg = testConfig(b)
	cfg.SecretKey = "wrong-secret-key-do-not-print"
	err = newTestStore(t, cfg).CheckBucket(ctx)
	if !errors.Is(err, ErrAccessDenied) {
		t.Errorf("CheckBucket(wrong secret) = %v, want ErrAccessDenied", err)
	}
}

// TestSecretsNeverShown provokes errors from every operation with wrong credentials and
// checks that neither key appears in them, nor in the printed configuration.
func TestSecretsNeverShown(t *testing.T) {
	b := testenv.NewBucket(t)
	cfg := testConfig(b)
	cfg.AccessKey = b.AccessKey // valid user, wrong secret: the store names the key ID in its answer
	cfg.SecretKey = "wrong-secret-key-do-not-print"
	s := newTestStore(t, cfg)
	s.cfg.MaxRetries = 0
	ctx := ctxFor(t)
	var errs []error
	_, err := s.Put(ctx, "k", bytes.NewReader(storagetest.Data(3, 6<<20)))
	errs = append(errs, err)
	_, err = s.Put(ctx, "small", strings.NewReader("x"))
	errs = append(errs, err)
	_, err = s.Get(ctx, "k")
	errs = append(errs, err)
	_, err = s.List(ctx, "")
	errs = append(errs, err)
	errs = append(errs, s.Delete(ctx, "k"), s.CheckBucket(ctx))
	_, err = s.AbortStaleUploads(ctx, "", 0)
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("operation %d succeeded with a wrong secret key", i)
			continue
		}
		for _, secret := range []string{cfg.SecretKey, cfg.AccessKey} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("operation %d: error shows a secret: %v", i, err)
			}
		}
	}
	cfg.SessionToken = "session-token-do-not-print"
	if _, err := newTestStore(t, cfg).List(ctx, ""); err == nil || strings.Contains(err.Error(), cfg.SessionToken) {
		t.Errorf("List with a bad session token = %v", err)
	}
	for _, printed := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg)} {
		for _, secret := range []string{cfg.SecretKey, cfg.SessionToken, cfg.AccessKey} {
			if strings.Contains(printed, secret) {
				t.Errorf("printed configuration shows a secret: %s", printed)
			}
		}
	}
	t.Logf("example error: %v", errs[0])
}

// TestDefaultCredentialChain checks that empty keys use the AWS default chain, here the
// environment variables.
func TestDefaultCredentialChain(t *testing.T) {
	b := testenv.NewBucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", b.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", b.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := testConfig(b)
	cfg.AccessKey, cfg.SecretKey = "", ""
	s := newTestStore(t, cfg)
	if err := s.CheckBucket(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	storagetest.MustPut(t, s, "k", []byte("via the default chain"))
}

func TestDeleteManyBatches(t *testing.T) {
	b := testenv.NewBucket(t)
	s := newTestStore(t, testConfig(b))
	const n = deleteBatch + 150
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/%04d", i)
	}
	putKeysDirectly(t, b, keys)
	if got := storagetest.Keys(t, s, "many/"); len(got) != n {
		t.Fatalf("List found %d keys, want %d (listing pages through everything)", len(got), n)
	}
	if err := s.Delete(ctxFor(t), keys...); err != nil {
		t.Fatal(err)
	}
	if s.noBatchDelete.Load() {
		t.Error("fell back to single deletes although the store supports DeleteObjects")
	}
	checkNothingLeft(t, b)
}

// putKeysDirectly creates small objects with the plain SDK client, a few at a time.
func putKeysDirectly(t *testing.T, b *testenv.Bucket, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := b.Client.PutObject(ctxFor(t), &awss3.PutObjectInput{Bucket: &b.Name, Key: &k, Body: strings.NewReader(k)}); err != nil {
				t.Errorf("put %s: %v", k, err)
			}
		})
	}
	wg.Wait()
}

// TestDeleteFallback puts a proxy in front of the store that refuses DeleteObjects, as some
// S3-compatible stores do, and checks that Delete falls back to single deletes.
func TestDeleteFallback(t *testing.T) {
	b := testenv.NewBucket(t)
	target, err := url.Parse(b.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var refused, singles sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
			refused.Store(r.URL.String(), true)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotImplemented)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>`)
			return
		}
		if r.Method == http.MethodDelete {
			singles.Store(r.URL.Path, true)
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := testConfig(b)
	cfg.Endpoint = srv.URL
	s := newTestStore(t, cfg)
	keys := []string{"a", "b/c", "d"}
	putKeysDirectly(t, b, keys)
	if err := s.Delete(ctxFor(t), append(keys, "absent")...); err != nil {
		t.Fatal(err)
	}
	if !s.noBatchDelete.Load() {
		t.Error("did not remember that DeleteObjects is unsupported")
	}
	n := 0
	singles.Range(func(_, _ any) bool { n++; return true })
	if n != 4 {
		t.Errorf("%d single deletes, want 4", n)
	}
	checkNothingLeft(t, b)
	// From now on no DeleteObjects is tried.
	putKeysDirectly(t, b, keys)
	refused.Clear()
	if err := s.Delete(ctxFor(t), keys...); err != nil {
		t.Fatal(err)
	}
	refused.Range(func(k, _ any) bool { t.Errorf("DeleteObjects tried again: %v", k); return false })
	checkNothingLeft(t, b)
}

func TestAbortStaleUploads(t *testing.T) {
	b := testenv.NewBucket(t)
	s := newTestStore(t, testConfig(b))
	ctx := ctxFor(t)
	for _, k := range []string{"p/one", "p/two", "other/three"} {
		if _, err := b.Client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &b.Name, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.AbortStaleUploads(ctx, "p/", time.Hour)
	if err != nil || n != 0 {
		t.Fatalf("AbortStaleUploads(1h) = %d, %v; want 0 (the uploads are new)", n, err)
	}
	n, err = s.AbortStaleUploads(ctx, "p/", -time.Minute) // "older than a minute in the future": all
	if err != nil || n != 2 {
		t.Fatalf("AbortStaleUploads(p/) = %d, %v; want 2", n, err)
	}
	if got, want := uploadsLeft(t, b), []string{"multipart upload of other/three"}; !slices.Equal(got, want) {
		t.Errorf("uploads left %q, want %q", got, want)
	}
}

// TestTLS puts a TLS proxy with its own certificate in front of the store: without the CA
// file the connection is refused, with it (or with verification off) everything works, and
// payloads are sent unsigned since TLS protects them.
func TestTLS(t *testing.T) {
	b := testenv.NewBucket(t)
	target, err := url.Parse(b.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer srv.Close()
	caFile := t.TempDir() + "/ca.pem"
	writeCertPEM(t, srv, caFile)

	cfg := testConfig(b)
	cfg.Endpoint = srv.URL
	cfg.MaxRetries = 1
	err = newTestStore(t, cfg).CheckBucket(ctxFor(t))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("CheckBucket without the CA = %v, want a certificate error", err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.CAFile = caFile },
		func(c *Config) { c.InsecureSkipVerify = true },
	} {
		c := cfg
		mod(&c)
		s := newTestStore(t, c)
		if !s.unsigned {
			t.Error("payloads are signed over TLS")
		}
		if err := s.CheckBucket(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		data := storagetest.Data(4, MinPartSize+100)
		storagetest.MustPut(t, s, "tls", data)
		storagetest.MustPut(t, s, "tls-small", data[:100])
		if got := storagetest.MustGet(t, s, "tls"); !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
	}
}

func TestListPages(t *testing.T) {
	b := testenv.NewBucket(t)
	s := newTestStore(t, testConfig(b))
	keys := make([]string, 1005) // more than one page of 1,000
	for i := range keys {
		keys[i] = fmt.Sprintf("p/%05d", len(keys)-i)
	}
	putKeysDirectly(t, b, keys)
	got := storagetest.Keys(t, s, "p/")
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("List returned %d keys, want %d in order", len(got), len(keys))
	}
}

// TestCompleteLostAnswer makes the store's answer to CompleteMultipartUpload vanish after
// the upload completed, and checks that Put finds the object in place and reports success
// rather than failing (or aborting) a stored backup.
func TestCompleteLostAnswer(t *testing.T) {
	b := testenv.NewBucket(t)
	target, err := url.Parse(b.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var dropped sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
			done := false
			dropped.Do(func() {
				// Let the store complete the upload, then cut the connection.
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, r)
				done = true
			})
			if done {
				hj, ok := w.(http.Hijacker)
				if !ok {
					t.Error("cannot hijack")
					return
				}
				c, _, _ := hj.Hijack()
				c.Close()
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := testConfig(b)
	cfg.Endpoint = srv.URL
	s := newTestStore(t, cfg)
	data := storagetest.Data(5, MinPartSize+1)
	storagetest.MustPut(t, s, "k", data)
	if got := storagetest.MustGet(t, s, "k"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if left := uploadsLeft(t, b); len(left) != 0 {
		t.Fatalf("left behind: %q", left)
	}
	if s.retries.Load() == 0 {
		t.Fatal("the completion was not retried: the lost answer was not exercised")
	}
}

// TestThrottlingAndServerErrorsRetried answers the first requests of each kind with
// throttling and server errors, and checks that the upload and download ride them out.
func TestThrottlingAndServerErrorsRetried(t *testing.T) {
	b := testenv.NewBucket(t)
	target, err := url.Parse(b.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	failures := map[string][]int{ // request kind → statuses to answer before passing it on
		"UploadPart": {503, 500, 503},
		"PutObject":  {503, 502},
		"GetObject":  {500, 503},
		"Complete":   {503},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		kind := ""
		switch {
		case r.Method == http.MethodPut && q.Has("partNumber"):
			kind = "UploadPart"
		case r.Method == http.MethodPut:
			kind = "PutObject"
		case r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/"+b.Name) && r.URL.Path != "/"+b.Name:
			kind = "GetObject"
		case r.Method == http.MethodPost && q.Has("uploadId"):
			kind = "Complete"
		}
		mu.Lock()
		var status int
		if fs := failures[kind]; len(fs) > 0 {
			status, failures[kind] = fs[0], fs[1:]
		}
		mu.Unlock()
		if status != 0 {
			_, _ = io.Copy(io.Discard, r.Body)
			code := map[int]string{500: "InternalError", 502: "BadGateway", 503: "SlowDown"}[status]
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := testConfig(b)
	cfg.Endpoint = srv.URL
	s := newTestStore(t, cfg)
	big := storagetest.Data(6, 2*MinPartSize+1)
	storagetest.MustPut(t, s, "big", big)
	storagetest.MustPut(t, s, "small", big[:1000])
	if got := storagetest.MustGet(t, s, "big"); !bytes.Equal(got, big) {
		t.Fatal("content differs")
	}
	if got, want := s.retries.Load(), int64(8); got != want {
		t.Errorf("%d retries, want %d (one per injected error)", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for kind, left := range failures {
		if len(left) != 0 {
			t.Errorf("%s: injected errors %v not reached", kind, left)
		}
	}
}

// TestCorruptedBodyRejected flips one byte of every body on the way to the store, behind
// TLS where payloads are not signed, so only the part checksum can catch it: the store must
// reject the upload, and nothing may be left.
func TestCorruptedBodyRejected(t *testing.T) {
	for _, checksum := range []string{ChecksumCRC32C, ChecksumMD5} {
		for _, size := range []int{1000, MinPartSize + 1000} {
			t.Run(fmt.Sprint(checksum, size), func(t *testing.T) {
				b := testenv.NewBucket(t)
				target, err := url.Parse(b.Endpoint)
				if err != nil {
					t.Fatal(err)
				}
				rp := httputil.NewSingleHostReverseProxy(target)
				srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPut && r.ContentLength > 100 {
						body, err := io.ReadAll(r.Body)
						if err != nil {
							// The client gave up on this request (another part had
							// already failed and the upload was being aborted).
							return
						}
						body[len(body)/2] ^= 0x01
						r.Body = io.NopCloser(bytes.NewReader(body))
					}
					rp.ServeHTTP(w, r)
				}))
				defer srv.Close()
				cfg := testConfig(b)
				cfg.Endpoint = srv.URL
				cfg.InsecureSkipVerify = true
				cfg.Checksum = checksum
				cfg.MaxRetries = 1
				s := newTestStore(t, cfg)
				_, err = s.Put(ctxFor(t), "k", bytes.NewReader(storagetest.Data(17, size)))
				if err == nil {
					t.Fatal("Put of a corrupted body succeeded")
				}
				t.Logf("Put: %v", err)
				checkNothingLeft(t, b)
			})
		}
	}
}

// TestChecksumMD5 runs uploads with Content-MD5 instead of CRC32C.
func TestChecksumMD5(t *testing.T) {
	b := testenv.NewBucket(t)
	cfg := testConfig(b)
	cfg.Checksum = ChecksumMD5
	s := newTestStore(t, cfg)
	for i, size := range []int{0, 1000, 3*MinPartSize + 7} {
		data := storagetest.Data(uint64(20+i), size)
		key := fmt.Sprint("md5-", size)
		storagetest.MustPut(t, s, key, data)
		if got := storagetest.MustGet(t, s, key); !bytes.Equal(got, data) {
			t.Fatalf("%s: content differs", key)
		}
	}
}
