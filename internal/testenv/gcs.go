package testenv

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
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
	Client *storage.Client // a plain SDK client, for checking what the code under test left behind
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

// GCSClient returns a plain SDK client of the emulator at host.
func GCSClient(ctx context.Context, host string) (*storage.Client, error) {
	return storage.NewClient(ctx, option.WithEndpoint("http://"+host+"/storage/v1/"),
		option.WithoutAuthentication(), option.WithHTTPClient(http.DefaultClient), storage.WithJSONReads())
}

// NewGCSBucket creates a fresh bucket on the test GCS emulator.
func NewGCSBucket(tb testing.TB) *GCSBucket {
	tb.Helper()
	return newGCSBucket(tb, GCSHost(tb), nil)
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
	return newGCSBucket(tb, host, &storage.BucketAttrs{VersioningEnabled: true})
}

func newGCSBucket(tb testing.TB, host string, attrs *storage.BucketAttrs) *GCSBucket {
	tb.Helper()
	b := &GCSBucket{Host: host, Name: UniqueName("mongostash-")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if b.Client, err = GCSClient(context.Background(), b.Host); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if err := b.Client.Bucket(b.Name).Create(ctx, GCSProject, attrs); err != nil {
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
