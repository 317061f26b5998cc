package gcs

import (
	"context"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// testConfig is a configuration for bucket b with the smallest chunk allowed, so that
// tests need only a few MiB to make a resumable upload of several chunks.
func testConfig(b *testenv.GCSBucket) Config {
	return Config{Bucket: b.Name, EmulatorHost: b.Host, ChunkSize: 4 * MinChunkSize}
}

func newTestStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestContract runs the conformance suite against fake-gcs-server. GCS leaves no listable
// debris of an unfinished resumable upload (its session is not an object), so there is no
// Leftovers check beyond the objects listed.
func TestContract(t *testing.T) {
	storagetest.Run(t, storagetest.Options{
		New: func(t *testing.T) storage.Store {
			return newTestStore(t, testConfig(testenv.NewGCSBucket(t)))
		},
		Big: 3*4*MinChunkSize + 1000, // four chunks
	})
}
