// Command demo is `make demo`: it starts the test bed (FerretDB and versitygw), loads a
// sample database, and runs mongostash's main job end to end — backup, list, verify,
// restore into another database, prune --dry-run — printing what each step did, then
// stops the servers. With -pitr (`make demo-pitr`) it shows point-in-time recovery
// instead: an encrypted base backup with its oplog, pitr archiving while the data changes,
// an accident, list --windows, verify --oplog and restore --to-time to the moment before
// it. It exits non-zero if any step fails or the restored data differs.
package main

import (
	"context"
	"flag"
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
	pitr := flag.Bool("pitr", false, "show point-in-time recovery: backup --oplog, pitr, list --windows, restore --to-time, with age encryption")
	flag.Parse()
	started := time.Now()
	demo, done := run, "backup → list → verify → restore → prune --dry-run"
	if *pitr {
		demo, done = runPITR, "backup --oplog (age) → pitr → list --windows → verify --oplog → restore --to-time"
	}
	err := demo()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %v\nserver logs:\n%s", err, testenv.LogTails())
	}
	testenv.StopAll()
	if err != nil {
		os.Exit(1)
	}
	fmt.Printf("\ndemo complete in %s: %s all worked\n", time.Since(started).Round(time.Second), done)
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bed, err := startTestBed(ctx)
	if err != nil {
		return err
	}
	defer bed.client.Disconnect(context.Background())

	step("loading a sample database 'shop'")
	counts, err := sample.Load(ctx, bed.client, "shop", 5000)
	if err != nil {
		return err
	}
	printCounts(counts)
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
		if err := bed.mongostash(ctx, nil, s.args...); err != nil {
			return err
		}
	}
	if err := checkCounts(ctx, bed.client.Database("shop_restored"), counts); err != nil {
		return err
	}
	step("prune --dry-run (seed policy: S3_BACKUP_MAX_AGE=30 days; the newest backup is always kept)")
	return bed.mongostash(ctx, nil, "prune", "--dry-run")
}

func printCounts(counts sample.Counts) {
	for c, n := range counts {
		fmt.Printf("  shop.%-10s %6d documents\n", c, n)
	}
}

// testBed is the demo's servers: a client of the MongoDB server, the environment that
// points mongostash at both, and the binary.
type testBed struct {
	client *mongo.Client
	env    []string
	bin    string
}

func startTestBed(ctx context.Context) (*testBed, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(root, "bin", "mongostash")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build` (make demo does)", bin)
	}
	step("starting the test bed (FerretDB + versitygw, on loopback ports, data in temporary directories)")
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
	return &testBed{client: client, bin: bin, env: append(os.Environ(),
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

// mongostash runs the binary with the bed's environment and extra variables, its output
// on the demo's.
func (b *testBed) mongostash(ctx context.Context, extra []string, args ...string) error {
	fmt.Printf("$ %smongostash %s\n", prefixOf(extra), strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = append(append([]string{}, b.env...), extra...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mongostash %s: %w", args[0], err)
	}
	return nil
}

// prefixOf shows the extra variables as a shell would take them.
func prefixOf(extra []string) string {
	if len(extra) == 0 {
		return ""
	}
	return strings.Join(extra, " ") + " "
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
