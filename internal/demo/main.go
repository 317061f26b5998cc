// Command demo is `make demo`: it starts the test bed (FerretDB and versitygw), loads a
// sample database, and runs mongostash's main job end to end — backup, list, verify,
// restore into another database, prune --dry-run — printing what each step did, then
// stops the servers. It exits non-zero if any step fails or the restored data differs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
)

func main() {
	err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %v\nserver logs:\n%s", err, testenv.LogTails())
	}
	testenv.StopAll()
	if err != nil {
		os.Exit(1)
	}
	fmt.Println("\ndemo complete: backup → list → verify → restore → prune --dry-run all worked")
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin", "mongostash")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is missing: run `make build` (make demo does)", bin)
	}
	bed, err := startTestBed()
	if err != nil {
		return err
	}
	defer bed.client.Disconnect(context.Background())

	step("loading a sample database 'shop'")
	counts, err := sample.Load(ctx, bed.client, "shop", 5000)
	if err != nil {
		return err
	}
	for c, n := range counts {
		fmt.Printf("  shop.%-10s %6d documents\n", c, n)
	}
	mongostash := func(args ...string) error {
		fmt.Printf("$ mongostash %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = bed.env
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("mongostash %s: %w", args[0], err)
		}
		return nil
	}
	for _, s := range []struct {
		title string
		args  []string
	}{
		{"backup (zstd, streamed to S3, manifest written last)", []string{"backup"}},
		{"list", []string{"list"}},
		{"verify latest (no MongoDB needed: CRCs, size, SHA-256, counts)", []string{"verify", "latest"}},
		{"restore latest into database shop_restored", []string{"restore", "--ns-from", "shop.*", "--ns-to", "shop_restored.*", "--drop"}},
	} {
		step(s.title)
		if err := mongostash(s.args...); err != nil {
			return err
		}
	}
	if err := checkCounts(ctx, bed.client.Database("shop_restored"), counts); err != nil {
		return err
	}
	step("prune --dry-run (seed policy: S3_BACKUP_MAX_AGE=30 days; the newest backup is always kept)")
	return mongostash("prune", "--dry-run")
}

// testBed is the demo's servers: a client of the MongoDB server and the environment that
// points mongostash at both.
type testBed struct {
	client *mongo.Client
	env    []string
}

func startTestBed() (*testBed, error) {
	step("starting the test bed (FerretDB + versitygw)")
	mongoURL, err := testenv.EnsureMongo()
	if err != nil {
		return nil, err
	}
	s3URL, err := testenv.EnsureS3()
	if err != nil {
		return nil, err
	}
	bucket, err := testenv.CreateBucket(s3URL, testenv.UniqueName("demo-"))
	if err != nil {
		return nil, err
	}
	fmt.Printf("MongoDB at %s, S3 at %s, bucket %s\n", mongoURL, s3URL, bucket.Name)
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURL))
	if err != nil {
		return nil, err
	}
	return &testBed{client: client, env: append(os.Environ(),
		"MONGO_URL="+mongoURL,
		"MONGO_DATABASE=shop",
		"S3_ENDPOINT="+s3URL,
		"S3_BUCKET="+bucket.Name,
		"S3_ACCESS_KEY="+bucket.AccessKey,
		"S3_SECRET_KEY="+bucket.SecretKey,
		"S3_REGION="+bucket.Region,
		"LOG_FORMAT=text",
	)}, nil
}

// checkCounts prints the restored collections' counts and fails on any that differs.
func checkCounts(ctx context.Context, db *mongo.Database, counts sample.Counts) error {
	for c, want := range counts {
		got, err := db.Collection(c).CountDocuments(ctx, bson.D{})
		if err != nil {
			return err
		}
		mark := "ok"
		if got != want {
			mark = "MISMATCH"
			err = fmt.Errorf("%s.%s has %d documents, want %d", db.Name(), c, got, want)
		}
		fmt.Printf("  %s.%-10s %6d documents  %s\n", db.Name(), c, got, mark)
		if err != nil {
			return err
		}
	}
	return nil
}

func step(s string) { fmt.Printf("\n== %s\n", s) }
