package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GCSProject is the project the test buckets are created in; the emulator accepts any.
const GCSProject = "mongostash-test"

var (
	gcsHost    string
	gcsErr     error
	gcsMemHost string // a second emulator, on its memory backend: the only one with versioning
	gcsMemErr  error
)

// GCSBucket is a fresh, empty bucket on the test Google Cloud Storage emulator.
type GCSBucket struct {
	Host   string // host:port of the emulator, as STORAGE_EMULATOR_HOST takes it
	Name   string
	Client *GCSClient // a plain JSON API client, for checking what the code under test left behind
}

// GCSHost returns host:port of a running Google Cloud Storage emulator, starting
// fake-gcs-server on first use. MONGOSTASH_TEST_GCS_HOST names one that already runs.
func GCSHost(tb testing.TB) string {
	tb.Helper()
	host, err := EnsureGCS()
	if err != nil {
		tb.Fatalf("testenv: GCS test server: %v", err)
	}
	return host
}

// EnsureGCS is GCSHost for programs that are not tests.
func EnsureGCS() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if gcsHost == "" && gcsErr == nil {
		gcsHost, gcsErr = startGCS("filesystem")
	}
	return gcsHost, gcsErr
}

// GCSClient speaks the JSON API of the emulator at Host, unauthenticated, with none of
// the code under test: what a test needs to set up and check a bucket.
type GCSClient struct{ Host string }

// ErrGCSNotFound is the error of a request the emulator answered with 404.
var ErrGCSNotFound = errors.New("testenv: GCS: not found")

// Do sends method to path (under http://Host) with body (nil, or marshalled as JSON unless
// it is []byte) and decodes the JSON answer into out (when not nil). A status of 400 or
// more is an error, ErrGCSNotFound for 404.
func (c *GCSClient) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Host+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return err
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", method, path, ErrGCSNotFound)
	case resp.StatusCode >= 400:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	case out == nil:
		return nil
	case method == http.MethodGet && strings.Contains(path, "alt=media"):
		*(out.(*[]byte)) = data
		return nil
	}
	return json.Unmarshal(data, out)
}

// CreateBucket creates bucket in GCSProject, with object versioning or without.
func (c *GCSClient) CreateBucket(ctx context.Context, bucket string, versioning bool) error {
	body := map[string]any{"name": bucket}
	if versioning {
		body["versioning"] = map[string]bool{"enabled": true}
	}
	return c.Do(ctx, http.MethodPost, "/storage/v1/b?project="+GCSProject, body, nil)
}

// Object returns the metadata (the JSON API's object resource) of an object.
func (c *GCSClient) Object(ctx context.Context, bucket, name string) (map[string]any, error) {
	var o map[string]any
	err := c.Do(ctx, http.MethodGet, "/storage/v1/b/"+url.PathEscape(bucket)+"/o/"+url.PathEscape(name), nil, &o)
	return o, err
}

// PatchObject updates the metadata of an object with patch (fields of its resource).
func (c *GCSClient) PatchObject(ctx context.Context, bucket, name string, patch map[string]any) error {
	return c.Do(ctx, http.MethodPatch, "/storage/v1/b/"+url.PathEscape(bucket)+"/o/"+url.PathEscape(name), patch, nil)
}

// Upload stores data under name with one media upload.
func (c *GCSClient) Upload(ctx context.Context, bucket, name string, data []byte) error {
	return c.Do(ctx, http.MethodPost, "/upload/storage/v1/b/"+url.PathEscape(bucket)+"/o?uploadType=media&name="+url.QueryEscape(name), data, nil)
}

// Download reads an object whole.
func (c *GCSClient) Download(ctx context.Context, bucket, name string) ([]byte, error) {
	var data []byte
	err := c.Do(ctx, http.MethodGet, "/storage/v1/b/"+url.PathEscape(bucket)+"/o/"+url.PathEscape(name)+"?alt=media", nil, &data)
	return data, err
}

// NewGCSBucket creates a fresh bucket on the test GCS emulator.
func NewGCSBucket(tb testing.TB) *GCSBucket {
	tb.Helper()
	return newGCSBucket(tb, GCSHost(tb), false)
}

// NewVersionedGCSBucket creates a fresh bucket with object versioning on. It lives on a
// second fake-gcs-server that keeps objects in memory: its filesystem backend cannot
// version objects. Keep what it stores small.
func NewVersionedGCSBucket(tb testing.TB) *GCSBucket {
	tb.Helper()
	mu.Lock()
	if gcsMemHost == "" && gcsMemErr == nil {
		gcsMemHost, gcsMemErr = startGCS("memory")
	}
	host, err := gcsMemHost, gcsMemErr
	mu.Unlock()
	if err != nil {
		tb.Fatalf("testenv: GCS test server (memory backend): %v", err)
	}
	return newGCSBucket(tb, host, true)
}

func newGCSBucket(tb testing.TB, host string, versioning bool) *GCSBucket {
	tb.Helper()
	b := &GCSBucket{Host: host, Name: UniqueName("mongostash-"), Client: &GCSClient{Host: host}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Client.CreateBucket(ctx, b.Name, versioning); err != nil {
		tb.Fatalf("testenv: create bucket %s: %v", b.Name, err)
	}
	return b
}

// startGCS starts fake-gcs-server with the given backend ("filesystem" or "memory").
func startGCS(backend string) (string, error) {
	if host := os.Getenv("MONGOSTASH_TEST_GCS_HOST"); host != "" && backend == "filesystem" {
		return host, nil
	}
	bin, err := Binary("fake-gcs-server")
	if err != nil {
		return "", err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr, port, err := freePort()
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "mongostash-fake-gcs-")
		if err != nil {
			return "", err
		}
		s := &server{name: "fake-gcs-server", dir: dir}
		// The filesystem backend keeps objects on disk as GCS keeps them off the heap; the
		// external URL makes resumable uploads come back to this address.
		cmd := exec.Command(bin, "-scheme", "http", "-host", "127.0.0.1", "-port", port,
			"-backend", backend, "-filesystem-root", filepath.Join(dir, "root"),
			"-external-url", "http://"+addr, "-public-host", addr, "-log-level", "warn")
		if _, err := s.start(cmd, false); err != nil {
			return "", err
		}
		if err := waitTCP(addr, s, 30*time.Second); err != nil {
			lastErr = err
			s.stop()
			continue
		}
		return addr, nil
	}
	return "", lastErr
}

// freePort returns a free loopback address and its port.
func freePort() (addr, port string, err error) {
	addr, err = freeAddr()
	if err != nil {
		return "", "", err
	}
	_, port, err = net.SplitHostPort(addr)
	return addr, strings.TrimSpace(port), err
}
