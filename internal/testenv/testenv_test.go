package testenv

import (
	"bytes"
	"context"
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
