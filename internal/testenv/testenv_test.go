package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestMain(m *testing.M) { Run(m) }

// TestMongoRoundTrip proves the MongoDB test server is real: a document written through
// the official driver reads back equal.
func TestMongoRoundTrip(t *testing.T) {
	m := NewMongo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	coll := m.Client.Database(m.DB).Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "ada"}}); err != nil {
		t.Fatal(err)
	}
	var got bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := bson.D{{Key: "_id", Value: int32(1)}, {Key: "name", Value: "ada"}}
	if !equalD(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func equalD(a, b bson.D) bool {
	ab, _ := bson.Marshal(a)
	bb, _ := bson.Marshal(b)
	return bytes.Equal(ab, bb)
}

// TestS3RoundTrip proves the S3 test server is real: an object put reads back equal.
func TestS3RoundTrip(t *testing.T) {
	b := NewBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := []byte("hello mongostash")
	if _, err := b.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("got %q, want %q", got, body)
	}
}

// TestLockedBucket proves the S3 test server does Object Lock as AWS does: a locked bucket
// is versioned, keeps an object's retention, and refuses to delete a locked version.
func TestLockedBucket(t *testing.T) {
	b := NewLockedBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lock, err := b.Client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(b.Name)})
	if err != nil || lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != "Enabled" {
		t.Fatalf("object lock configuration: %+v, %v", lock, err)
	}
	vers, err := b.Client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.Name)})
	if err != nil || vers.Status != "Enabled" {
		t.Fatalf("versioning of a locked bucket: %+v, %v", vers, err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	put, err := b.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String("k"), Body: bytes.NewReader([]byte("x")),
		ObjectLockMode: "GOVERNANCE", ObjectLockRetainUntilDate: &until})
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String("k")})
	if err != nil || head.ObjectLockMode != "GOVERNANCE" || head.ObjectLockRetainUntilDate == nil || !head.ObjectLockRetainUntilDate.Equal(until) {
		t.Fatalf("head: mode %q until %v, %v; want GOVERNANCE until %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate, err, until)
	}
	if _, err := b.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String("k"), VersionId: put.VersionId}); err == nil {
		t.Fatal("deleting a locked version succeeded")
	}
	// Without a version ID a delete only adds a delete marker; the locked version stays.
	if _, err := b.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Name), Key: aws.String("k")}); err != nil {
		t.Fatalf("delete marker: %v", err)
	}
	if _, err := b.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.Name), Key: aws.String("k"), VersionId: put.VersionId}); err != nil {
		t.Fatalf("the locked version is gone after a plain delete: %v", err)
	}
}

// TestServerLimits: the probe runs on the test server and drops its scratch database.
func TestServerLimits(t *testing.T) {
	m := NewMongo(t)
	l := ServerLimits(t, m)
	t.Logf("server %s: %+v", m.URL, l)
	if l.Version == "" {
		t.Error("no server version")
	}
	names, err := m.Client.ListDatabaseNames(context.Background(), bson.D{{Key: "name", Value: l.probeDB}})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("the probe left %v behind", names)
	}
}

// TestAzureRoundTrip proves the Azure Storage test server is real: a blob uploaded through
// the official SDK reads back equal.
func TestAzureRoundTrip(t *testing.T) {
	c := NewContainer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := []byte("hello mongostash")
	if _, err := c.Client.UploadBuffer(ctx, c.Name, "k", body, nil); err != nil {
		t.Fatal(err)
	}
	out, err := c.Client.DownloadStream(ctx, c.Name, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("got %q, want %q", got, body)
	}
}

// TestGCSRoundTrip proves the GCS test server is real: an object written through the
// plain JSON API client reads back equal, and its metadata names it.
func TestGCSRoundTrip(t *testing.T) {
	b := NewGCSBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := []byte("hello mongostash")
	if err := b.Client.Upload(ctx, b.Name, "k", body); err != nil {
		t.Fatal(err)
	}
	got, err := b.Client.Download(ctx, b.Name, "k")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("got %q, want %q", got, body)
	}
	o, err := b.Client.Object(ctx, b.Name, "k")
	if err != nil || o["name"] != "k" || o["size"] != fmt.Sprint(len(body)) {
		t.Fatalf("metadata %v, %v", o, err)
	}
	if _, err := b.Client.Object(ctx, b.Name, "absent"); !errors.Is(err, ErrGCSNotFound) {
		t.Fatalf("metadata of an absent object: %v", err)
	}
}
