package pitr

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/internal/testenv"
	s3store "github.com/mongostash/mongostash/storage/s3"
)

// TestArchiverS3Outage: the S3 server goes down while the oplog keeps growing (a
// versitygw of the test's own, killed as a crash would). Uploads fail, are counted and
// retried; once the server is back the archive catches up: one chain, every entry once,
// no incomplete chunk and no multipart upload left behind.
func TestArchiverS3Outage(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	gw, endpoint := testenv.PrivateVersityGW(t)
	bucket, err := testenv.CreateBucket(endpoint, testenv.UniqueName("pitr-"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3store.New(context.Background(), s3store.Config{Endpoint: bucket.Endpoint, Bucket: bucket.Name, Region: bucket.Region,
		AccessKey: bucket.AccessKey, SecretKey: bucket.SecretKey, MaxRetries: 1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	opts := archOptions(st)
	r := startArchiver(t, m.Client, opts)
	stopWriting := keepWriting(t, m, "c", 0)
	r.waitStatus(t, "a first chunk", func(s Status) bool { return s.Chunks >= 1 })
	gw.Kill()
	r.waitStatus(t, "failed uploads", func(s Status) bool { return s.Failures >= 2 && s.LastError != "" })
	gw.Start()
	before := r.a.Status().Chunks
	r.waitStatus(t, "uploads after the outage", func(s Status) bool { return s.Chunks >= before+2 && s.LastError == "" })
	stopWriting()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	_, cs := archived(t, st)
	if len(cs.Chains) != 1 {
		t.Fatalf("want one chain across the outage, got %+v", cs)
	}
	ch := cs.Chains[0]
	sameEntries(t, "chain across the outage", chainEntries(t, st, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
	ups, err := bucket.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
	}
}
