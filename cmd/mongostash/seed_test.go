package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/internal/testenv"
)

// TestSeedObjectRestoresAsLatest: an object written by the seed's backup.py (a plain
// mongodump archive named backup-<isoformat>.dump, no manifest) is found as the latest
// backup and restored. The archive is the golden one real mongodump 100.18 wrote.
func TestSeedObjectRestoresAsLatest(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	data, err := os.ReadFile("../../dump/archive/testdata/mongodump-100.18.0-ferretdb-shop.archive")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{"backup-2021-01-06T22:06:31.106555.dump", "backup-2021-01-05T22:06:31.dump"} {
		if _, err := b.bucket.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	target := testenv.UniqueName("seed")
	t.Cleanup(func() { _ = b.mongo.Client.Database(target).Drop(context.Background()) })
	e := b.env.with("MONGO_DATABASE", "shop")
	r := mustRun(t, e, "restore", "--ns-from", "shop.*", "--ns-to", target+".*")
	if !bytes.Contains([]byte(r.stderr), []byte("backup-2021-01-06T22:06:31.106555.dump")) {
		t.Errorf("restore should name the newest seed object: %s", r.stderr)
	}
	want := map[string]int64{"events": 1, "metrics": 1, "orders": 1000, "users": 2}
	db := b.mongo.Client.Database(target)
	for coll, n := range want {
		got, err := db.Collection(coll).CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("%s: got %d documents, want %d", coll, got, n)
		}
	}
	specs, err := db.Collection("orders").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range specs {
		names[s.Name] = true
		if s.Name == "sku_unique" && (s.Unique == nil || !*s.Unique) {
			t.Errorf("sku_unique lost its unique option")
		}
	}
	for _, n := range []string{"_id_", "customer_1_date_-1", "sku_unique"} {
		if !names[n] {
			t.Errorf("index %s missing; have %v", n, names)
		}
	}
	opts, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "events"}})
	if err != nil || len(opts) != 1 {
		t.Fatalf("events: %v %v", opts, err)
	}
	if capped, _ := opts[0].Options.Lookup("capped").BooleanOK(); !capped {
		if testenv.ServerLimits(t, b.mongo).IgnoresCapped {
			t.Logf("events is not capped: this server creates capped collections as ordinary ones (FerretDB v2), so the option cannot be checked here")
		} else {
			t.Errorf("events should be capped: %s", opts[0].Options)
		}
	}
}
