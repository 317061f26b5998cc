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

	step("starting the test bed (FerretDB + versitygw)")
	mongoURL, err := testenv.EnsureMongo()
	if err != nil {
		return err
	}
	s3URL, err := testenv.EnsureS3()
	if err != nil {
		return err
	}
	bucket, err := testenv.CreateBucket(s3URL, testenv.UniqueName("demo-"))
	if err != nil {
		return err
	}
	fmt.Printf("MongoDB at %s, S3 at %s, bucket %s\n", mongoURL, s3URL, bucket.Name)

	client, err := mongo.Connect(options.Client().ApplyURI(mongoURL))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	step("loading a sample database 'shop'")
	counts, err := sample.Load(ctx, client, "shop", 5000)
	if err != nil {
		return err
	}
	for c, n := range counts {
		fmt.Printf("  shop.%-10s %6d documents\n", c, n)
	}

	env := append(os.Environ(),
		"MONGO_URL="+mongoURL,
		"MONGO_DATABASE=shop",
		"S3_ENDPOINT="+s3URL,
		"S3_BUCKET="+bucket.Name,
		"S3_ACCESS_KEY="+bucket.AccessKey,
		"S3_SECRET_KEY="+bucket.SecretKey,
		"S3_REGION="+bucket.Region,
		"LOG_FORMAT=text",
	)
	mongostash := func(args ...string) error {
		fmt.Printf("$ mongostash %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("mongostash %s: %w", args[0], err)
		}
		return nil
	}

	step("backup (zstd, streamed to S3, manifest written last)")
	if err := mongostash("backup"); err != nil {
		return err
	}
	step("list")
	if err := mongostash("list"); err != nil {
		return err
	}
	step("verify latest (no MongoDB needed: CRCs, size, SHA-256, counts)")
	if err := mongostash("verify", "latest"); err != nil {
		return err
	}
	step("restore latest into database shop_restored")
	if err := mongostash("restore", "--ns-from", "shop.*", "--ns-to", "shop_restored.*", "--drop"); err != nil {
		return err
	}
	for c, want := range counts {
		got, err := client.Database("shop_restored").Collection(c).CountDocuments(ctx, bson.D{})
		if err != nil {
			return err
		}
		mark := "ok"
		if got != want {
			mark = "MISMATCH"
			err = fmt.Errorf("shop_restored.%s has %d documents, want %d", c, got, want)
		}
		fmt.Printf("  shop_restored.%-10s %6d documents  %s\n", c, got, mark)
		if err != nil {
			return err
		}
	}
	step("prune --dry-run (seed policy: S3_BACKUP_MAX_AGE=30 days; the newest backup is always kept)")
	return mongostash("prune", "--dry-run")
}

func step(s string) { fmt.Printf("\n== %s\n", s) }
