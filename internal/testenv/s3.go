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

// CreateBucket creates the named bucket on the S3 server at endpoint (the test bed's
// credentials, or the MONGOSTASH_TEST_S3_* ones).
func CreateBucket(endpoint, name string) (*Bucket, error) {
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
	if _, err := b.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.Name)}); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", b.Name, err)
	}
	return b, nil
}
