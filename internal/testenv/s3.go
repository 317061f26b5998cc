package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Bucket is a fresh, empty bucket on the test S3 server.
type Bucket struct {
	Endpoint  string
	Name      string
	AccessKey string
	SecretKey string
	Region    string
	Client    *s3.Client // a plain SDK client, for checking what the code under test left behind
}

// NewBucket creates a fresh bucket on the test S3 server.
func NewBucket(tb testing.TB) *Bucket {
	tb.Helper()
	b, err := CreateBucket(S3Endpoint(tb), UniqueName("mongostash-"))
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return b
}

// NewLockedBucket creates a fresh bucket with S3 Object Lock enabled, which also makes it
// versioned (as on AWS: a delete without a version ID only adds a delete marker).
func NewLockedBucket(tb testing.TB) *Bucket {
	tb.Helper()
	b, err := createBucket(S3Endpoint(tb), UniqueName("mongostash-lock-"), true)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return b
}

// CreateBucket creates the named bucket on the S3 server at endpoint (the test bed's
// credentials, or the MONGOSTASH_TEST_S3_* ones).
func CreateBucket(endpoint, name string) (*Bucket, error) {
	return createBucket(endpoint, name, false)
}

func createBucket(endpoint, name string, objectLock bool) (*Bucket, error) {
	b := &Bucket{
		Endpoint:  endpoint,
		Name:      name,
		AccessKey: S3AccessKey,
		SecretKey: S3SecretKey,
		Region:    S3Region,
	}
	if k := getenv("MONGOSTASH_TEST_S3_ACCESS_KEY"); k != "" {
		b.AccessKey, b.SecretKey = k, getenv("MONGOSTASH_TEST_S3_SECRET_KEY")
	}
	b.Client = s3.New(s3.Options{
		BaseEndpoint: aws.String(b.Endpoint),
		Region:       b.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(b.AccessKey, b.SecretKey, ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &s3.CreateBucketInput{Bucket: aws.String(b.Name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := b.Client.CreateBucket(ctx, in); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", b.Name, err)
	}
	return b, nil
}
