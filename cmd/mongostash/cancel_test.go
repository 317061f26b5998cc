package main

import (
	"bufio"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/internal/sample"
)

// TestBackupSIGTERMLeavesNothing: SIGTERM midway through a backup (as Kubernetes sends
// when a job is deleted) exits non-zero and leaves no object, no manifest and no
// multipart upload in the bucket.
func TestBackupSIGTERMLeavesNothing(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 40000); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := binaryCommand(ctx, t, b.env.with("LOG_LEVEL", "debug", "BACKUP_COMPRESSION", "none"), "backup", "--s3-part-size", "5242880", "--parallel", "1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	signalled := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		// The dump of the largest collection (~3 s) is under way 300 ms after this line.
		if !signalled && strings.Contains(sc.Text(), `"msg":"dumping"`) {
			time.Sleep(300 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	if !signalled || strings.Contains(log.String(), "backup complete") {
		t.Fatalf("the backup finished before it could be interrupted:\n%s", log.String())
	}
	if err == nil {
		t.Fatalf("want a non-zero exit after SIGTERM:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "nothing was stored") {
		t.Errorf("the error should say nothing was stored:\n%s", log.String())
	}
	if keys := listKeys(t, b); len(keys) != 0 {
		t.Errorf("objects left after an interrupted backup: %v\n%s", keys, log.String())
	}
	ups, err := b.bucket.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(b.bucket.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
	}
}
