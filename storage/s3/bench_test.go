package s3

import (
	"context"
	"fmt"
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

// benchSize is the stream the benchmark moves: 32 parts of 16 MiB.
const benchSize = 512 << 20

// The store's own upload and download benchmarks, side by side with the other stores and
// with their memory bounds, are in storage/internal/storebench; this one compares the
// upload with the aws CLI's.

// BenchmarkAWSCLIUpload pipes 512 MiB into `aws s3 cp -` with the store's default part size
// and concurrency, for comparison; it is skipped when the aws CLI is not on PATH. The
// peak-RSS is the CLI process's (its maximum resident set size).
func BenchmarkAWSCLIUpload(b *testing.B) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		b.Skip("aws CLI not on PATH")
	}
	bk := testenv.NewBucket(b)
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
