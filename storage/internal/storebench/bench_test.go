package storebench

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/azblob"
	"github.com/mongostash/mongostash/storage/gcs"
	"github.com/mongostash/mongostash/storage/s3"
	"github.com/mongostash/mongostash/storage/storagetest"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// benchSize is the stream each benchmark moves: 32 parts of 16 MiB.
const benchSize = 512 << 20

// backend is one store under test and the memory bound its upload must keep.
type backend struct {
	name  string
	open  func(b *testing.B) storage.Store
	bound int64 // peak RSS an upload may add to the process's RSS before it
}

// slack is what the process holds besides the part buffers: the runtime, the SDK, the
// pattern block, the garbage of the last parts.
const slack = 32 << 20

var backends = []backend{
	{"versitygw", func(b *testing.B) storage.Store {
		bk := testenv.NewBucket(b)
		s, err := s3.New(context.Background(), s3.Config{Endpoint: bk.Endpoint, Bucket: bk.Name, Region: bk.Region, AccessKey: bk.AccessKey, SecretKey: bk.SecretKey})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, (s3.DefaultConcurrency+1)*s3.DefaultPartSize + slack},
	{"azurite", func(b *testing.B) storage.Store {
		c := testenv.NewContainer(b)
		s, err := azblob.New(azblob.Config{Endpoint: c.Endpoint, Account: c.Account, Key: c.Key, Container: c.Name})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, (azblob.DefaultConcurrency+1)*azblob.DefaultBlockSize + slack},
	{"fake-gcs-server", func(b *testing.B) storage.Store {
		bk := testenv.NewGCSBucket(b)
		s, err := gcs.New(context.Background(), gcs.Config{Bucket: bk.Name, EmulatorHost: bk.Host})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}, 2*gcs.DefaultChunkSize + slack},
}

// BenchmarkUpload streams 512 MiB of unknown size to each store with its defaults and
// reports the process's peak RSS during the upload, and what the upload added to the RSS
// before it against the store's bound (the test binary links three SDKs: its own RSS is
// not the CLI's).
func BenchmarkUpload(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx := context.Background()
			b.SetBytes(benchSize)
			b.ReportAllocs()
			var peak, added int64
			b.StopTimer()
			for i := range b.N {
				key := fmt.Sprintf("bench-%d", i)
				testenv.ResetPeakRSS(b)
				base := testenv.PeakRSS(b)
				b.StartTimer()
				res, err := s.Put(ctx, key, storagetest.PatternReader(benchSize))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if res.Size != benchSize {
					b.Fatalf("stored %d bytes", res.Size)
				}
				p := testenv.PeakRSS(b)
				peak, added = max(peak, p), max(added, p-base)
				if err := s.Delete(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(added)/(1<<20), "added-RSS-MiB")
			b.ReportMetric(float64(be.bound)/(1<<20), "bound-MiB")
			if added > be.bound {
				b.Errorf("the upload added %d MiB to the RSS, more than the bound %d MiB", added>>20, be.bound>>20)
			}
		})
	}
}

// BenchmarkDownload reads a 512 MiB object from each store.
func BenchmarkDownload(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx := context.Background()
			if _, err := s.Put(ctx, "bench", storagetest.PatternReader(benchSize)); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Delete(context.Background(), "bench") })
			b.SetBytes(benchSize)
			b.ReportAllocs()
			var peak int64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				testenv.ResetPeakRSS(b)
				b.StartTimer()
				r, err := s.Get(ctx, "bench")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, r)
				r.Close()
				if err != nil || n != benchSize {
					b.Fatalf("read %d bytes: %v", n, err)
				}
				b.StopTimer()
				peak = max(peak, testenv.PeakRSS(b))
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		})
	}
}
