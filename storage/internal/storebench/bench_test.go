package storebench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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
				resetPeakRSS(b)
				base := peakRSS(b)
				b.StartTimer()
				res, err := s.Put(ctx, key, newPatternReader(benchSize))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if res.Size != benchSize {
					b.Fatalf("stored %d bytes", res.Size)
				}
				p := peakRSS(b)
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
			if _, err := s.Put(ctx, "bench", newPatternReader(benchSize)); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Delete(context.Background(), "bench") })
			b.SetBytes(benchSize)
			b.ReportAllocs()
			var peak int64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				resetPeakRSS(b)
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
				peak = max(peak, peakRSS(b))
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		})
	}
}

// patternReader yields n pseudo-random bytes from a 1 MiB block, rotated by one byte per
// round so no two blocks of the stream are equal, without holding the stream in memory.
type patternReader struct {
	block []byte
	off   int64
	n     int64
}

func newPatternReader(n int64) *patternReader {
	return &patternReader{block: storagetest.Data(42, 1<<20), n: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	total := 0
	for len(b) > 0 {
		bs := int64(len(p.block))
		round, pos := p.off/bs, p.off%bs
		start := (pos + round) % bs
		m := copy(b, p.block[start:])
		if int64(m) > bs-pos {
			m = int(bs - pos)
		}
		b = b[m:]
		p.off += int64(m)
		total += m
	}
	return total, nil
}

// resetPeakRSS makes the kernel's peak-RSS counter (VmHWM) start again from the current RSS.
func resetPeakRSS(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset peak RSS: %v", err)
	}
}

// peakRSS returns VmHWM, the process's peak resident set size, in bytes.
func peakRSS(b *testing.B) int64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
