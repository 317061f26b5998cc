package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/internal/sample"
)

// plainBackup loads the sample data, backs it up uncompressed and returns the archive bytes.
func plainBackup(t *testing.T, b *bed, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := sample.Load(ctx, b.mongo.Client, b.mongo.DB, n); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env.with("BACKUP_COMPRESSION", "none"), "backup")
	return getOnlyBackup(t, b)
}

func getOnlyBackup(t *testing.T, b *bed) []byte {
	t.Helper()
	ctx := context.Background()
	out, err := b.bucket.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket.Name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if strings.HasSuffix(*o.Key, ".dump") {
			g, err := b.bucket.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket.Name), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Body.Close()
			data, err := io.ReadAll(g.Body)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
	t.Fatal("no .dump object in the bucket")
	return nil
}

// TestRestoreDropKeepsDataOnBadArchive: --drop with a truncated or corrupted archive must
// fail and leave the existing collections exactly as they were, with no temporary
// collections left behind.
func TestRestoreDropKeepsDataOnBadArchive(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	archive := plainBackup(t, b, 1200)
	ctx := context.Background()
	// Change the live data after the backup, so "as it was" differs from the archive.
	if _, err := b.mongo.Client.Database(b.mongo.DB).Collection("users").InsertOne(ctx, bson.D{{Key: "_id", Value: "added-after-backup"}}); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, b.mongo.Client, b.mongo.DB)

	flipped := bytes.Clone(archive)
	i := bytes.Index(flipped, []byte("ORD-00000500"))
	if i < 0 {
		t.Fatal("marker not found in archive")
	}
	flipped[i+4] ^= 0x01
	cases := map[string]struct {
		data []byte
		want string
	}{
		"truncated midway":   {archive[:len(archive)/2], "unexpected EOF"},
		"truncated near end": {archive[:len(archive)-3], "unexpected EOF"},
		"flipped byte":       {flipped, "CRC"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.archive")
			if err := os.WriteFile(file, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			// The dotted audit.log is left out: FerretDB cannot rename it, so the pre-flight
			// would refuse before the archive is read (TestFaultDottedRefused).
			r := runCLI(t, b.env, "restore", "--drop", "--ns-exclude", "*.audit.log", "--from", file)
			if r.code != 1 {
				t.Fatalf("want exit 1, got %s", r)
			}
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "existing collections are unchanged") {
				t.Errorf("stderr should name the problem (%q) and say nothing was replaced: %s", tc.want, r.stderr)
			}
			compareSnapshots(t, takeSnapshot(t, b.mongo.Client, b.mongo.DB), before)
		})
	}
}

// TestRestoreDuplicatesTellTheTruth: restoring over the same data without --drop must
// exit non-zero and count the refused documents (mongorestore exits 0 here).
func TestRestoreDuplicatesTellTheTruth(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	archive := plainBackup(t, b, 600)
	file := filepath.Join(t.TempDir(), "a.archive")
	if err := os.WriteFile(file, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, b.env, "restore", "--from", file)
	if r.code != 1 {
		t.Fatalf("want exit 1, got %s", r)
	}
	// Servers word the error differently (FerretDB v2: "Duplicate key violation …"); the code is the same.
	if !strings.Contains(r.stderr, "600 of 600 documents refused") || !strings.Contains(r.stderr, "(code 11000)") {
		t.Errorf("want the refused count and the first error in stderr: %s", r.stderr)
	}
}

// TestRestoreDropReplaces: --drop with a good archive replaces changed data. The dotted
// collection (audit.log) is left out: FerretDB v1's renameCollection refuses dotted names,
// so it cannot be swapped there (a real mongod renames them; see the note in swap.go).
func TestRestoreDropReplaces(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	ctx := context.Background()
	if _, err := sample.Load(ctx, b.mongo.Client, b.mongo.DB, 800); err != nil {
		t.Fatal(err)
	}
	want := takeSnapshot(t, b.mongo.Client, b.mongo.DB)
	mustRun(t, b.env, "backup")
	users := b.mongo.Client.Database(b.mongo.DB).Collection("users")
	if _, err := users.DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	if _, err := users.InsertOne(ctx, bson.D{{Key: "_id", Value: "stray"}}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env, "restore", "--drop", "--ns-exclude", "*.audit.log")
	compareSnapshots(t, takeSnapshot(t, b.mongo.Client, b.mongo.DB), want)
}
