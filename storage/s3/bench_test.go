package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// benchSize is the stream the benchmarks move: large enough for 32 parts of 16 MiB.
const benchSize = 512 << 20

func benchStore(b *testing.B) (*Store, *testenv.Bucket) {
	bk := testenv.NewBucket(b)
	cfg := testConfig(bk)
	cfg.PartSize = DefaultPartSize
	cfg.Concurrency = DefaultConcurrency
	return newTestStore(b, cfg), bk
}

// BenchmarkUpload streams 512 MiB of unknown size to versitygw on loopback with the
// default part size and concurrency, and reports the process's peak RSS during the upload
// against the bound (Concurrency+1) × PartSize + 32 MiB.
func BenchmarkUpload(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ReportAllocs()
	var peak int64
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
		peak = max(peak, testenv.PeakRSS(b))
		if i == 0 {
			b.ReportMetric(float64(base)/(1<<20), "start-RSS-MiB")
		}
		if err := s.Delete(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
	bound := int64(s.cfg.Concurrency+1)*s.cfg.PartSize + 32<<20
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(bound)/(1<<20), "RSS-bound-MiB")
	if peak > bound {
		b.Errorf("peak RSS %d MiB exceeds the bound %d MiB", peak>>20, bound>>20)
	}
}

// BenchmarkDownload reads a 512 MiB object from versitygw on loopback.
func BenchmarkDownload(b *testing.B) {
	s, _ := benchStore(b)
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
}

// BenchmarkAWSCLIUpload pipes the same 512 MiB into `aws s3 cp -` with the same part size
// and concurrency, for comparison; it is skipped when the aws CLI is not on PATH. The
// peak-RSS is the CLI process's (its maximum resident set size).
func BenchmarkAWSCLIUpload(b *testing.B) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		b.Skip("aws CLI not on PATH")
	}
	_, bk := benchStore(b)
	dir := b.TempDir()
	conf := filepath.Join(dir, "config")
	err = os.WriteFile(conf, []byte("[default]\nregion = "+bk.Region+"\ns3 =\n  multipart_chunksize = 16MB\n  max_concurrent_requests = 4\n"), 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	var peak int64
	for i := range b.N {
		cmd := exec.Command(bin, "s3", "cp", "--only-show-errors", "--endpoint-url", bk.Endpoint, "-", fmt.Sprintf("s3://%s/cli-%d", bk.Name, i))
		cmd.Env = append(os.Environ(),
			"AWS_ACCESS_KEY_ID="+bk.AccessKey, "AWS_SECRET_ACCESS_KEY="+bk.SecretKey,
			"AWS_CONFIG_FILE="+conf, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"))
		cmd.Stdin = storagetest.PatternReader(benchSize)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("aws s3 cp: %v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss<<10)
		}
		b.StopTimer()
		head, err := bk.Client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: &bk.Name, Key: aws.String(fmt.Sprintf("cli-%d", i))})
		if err != nil || aws.ToInt64(head.ContentLength) != benchSize {
			b.Fatalf("the CLI stored %d bytes: %v", aws.ToInt64(head.ContentLength), err)
		}
		if _, err := bk.Client.DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: &bk.Name, Key: aws.String(fmt.Sprintf("cli-%d", i))}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}
