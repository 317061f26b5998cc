package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPruneStaleUploadAge: --stale-upload-age (PRUNE_STALE_UPLOAD_AGE) sets how old a
// multipart upload must be for prune --abort-stale-uploads to abort it: an upload a minute
// old survives the default 24 h and is aborted with 1m; an age under a minute, which could
// abort a backup still uploading, is refused with exit 2 naming the setting.
func TestPruneStaleUploadAge(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	begun := time.Now()
	if _, err := b.bucket.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(b.bucket.Name), Key: aws.String("backup-2026-01-01T00:00:00Z.dump.zst")}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"30s", "0", "-1m"} {
		r := runCLI(t, b.env.with("PRUNE_STALE_UPLOAD_AGE", bad), "prune", "--abort-stale-uploads")
		if r.code != exitUsage || !strings.Contains(r.stderr, "--stale-upload-age (PRUNE_STALE_UPLOAD_AGE)") || !strings.Contains(r.stderr, "must be 1m to 87600h") {
			t.Errorf("PRUNE_STALE_UPLOAD_AGE=%s: want exit 2 naming the setting, got %s", bad, r)
		}
	}
	time.Sleep(time.Until(begun.Add(61 * time.Second)))
	mustRun(t, b.env, "prune", "--abort-stale-uploads")
	if n := multipartUploads(t, b); n != 1 {
		t.Fatalf("with the default age (24h) a minute-old upload must stay: %d uploads left", n)
	}
	r := mustRun(t, b.env.with("PRUNE_STALE_UPLOAD_AGE", "1m"), "prune", "--abort-stale-uploads")
	if n := multipartUploads(t, b); n != 0 {
		t.Fatalf("with --stale-upload-age 1m the minute-old upload must go: %d left\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, `"older_than":"1m0s"`) {
		t.Errorf("the log does not say the age used:\n%s", r.stderr)
	}
}
