package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	azstore "github.com/mongostash/mongostash/storage/azblob"
	gcsstore "github.com/mongostash/mongostash/storage/gcs"
	"github.com/mongostash/mongostash/storage/local"
	s3store "github.com/mongostash/mongostash/storage/s3"
)

// storeBed is one kind of store chosen with STORE_URL: the environment that names it (no
// S3_* variable but for the s3:// store's endpoint and keys) and the same store opened
// directly, for checking what the commands left.
type storeBed struct {
	env   env
	store storage.Store
}

// storeBeds are a fresh store of each kind, on the test bed's servers, under prefix team/.
var storeBeds = map[string]func(t *testing.T) storeBed{
	"s3": func(t *testing.T) storeBed {
		b := testenv.NewBucket(t)
		s, err := s3store.New(context.Background(), s3store.Config{Endpoint: b.Endpoint, Bucket: b.Name, Region: b.Region, AccessKey: b.AccessKey, SecretKey: b.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		return storeBed{env{"STORE_URL": "s3://" + b.Name + "/team", "S3_ENDPOINT": b.Endpoint, "S3_ACCESS_KEY": b.AccessKey,
			"S3_SECRET_KEY": b.SecretKey, "S3_REGION": b.Region}, s}
	},
	"azblob": func(t *testing.T) storeBed {
		c := testenv.NewContainer(t)
		s, err := azstore.New(azstore.Config{ConnectionString: c.ConnectionString(), Container: c.Name})
		if err != nil {
			t.Fatal(err)
		}
		return storeBed{env{"STORE_URL": "azblob://" + c.Name + "/team/", "AZURE_STORAGE_CONNECTION_STRING": c.ConnectionString()}, s}
	},
	"gs": func(t *testing.T) storeBed {
		b := testenv.NewGCSBucket(t)
		s, err := gcsstore.New(context.Background(), gcsstore.Config{Bucket: b.Name, EmulatorHost: b.Host})
		if err != nil {
			t.Fatal(err)
		}
		return storeBed{env{"STORE_URL": "gs://" + b.Name + "/team/", "STORAGE_EMULATOR_HOST": b.Host}, s}
	},
	"file": func(t *testing.T) storeBed {
		dir := t.TempDir()
		s, err := local.New(dir + "/team")
		if err != nil {
			t.Fatal(err)
		}
		return storeBed{env{"STORE_URL": "file://" + dir + "/team"}, s}
	},
}

// TestEveryCommandOnEveryStore is the end-to-end test for each store chosen with
// STORE_URL: backup (twice, with the oplog) → list → verify → restore into another
// database (equal to the source) → prune --dry-run (deletes nothing) → prune (keeps the
// newest) → pitr with restore --to-time, equal to a copy taken at that time.
func TestEveryCommandOnEveryStore(t *testing.T) {
	for _, kind := range []string{"s3", "azblob", "gs", "file"} {
		t.Run(kind, func(t *testing.T) {
			sb := storeBeds[kind](t)
			m := testenv.NewMongoWithOplog(t)
			b := &bed{mongo: m, env: sb.env.with("MONGO_URL", m.URL, "MONGO_DATABASE", m.DB, "LOG_FORMAT", "json", "BACKUP_OPLOG", "true")}
			prefix := "team/"
			if kind == "file" {
				prefix = "" // the directory is the store
			}
			pitrWrites(t, b, "setup", 0, 40)
			mustRun(t, b.env, "backup")
			time.Sleep(1100 * time.Millisecond) // backup names have seconds
			pitrWrites(t, b, "second", 30, 50)
			mustRun(t, b.env, "backup")
			checkListAndVerify(t, b, sb.store, prefix)
			checkRestoreAndPrune(t, b, sb.store, prefix)
			checkPITR(t, b, sb.store, prefix)
		})
	}
}

func checkListAndVerify(t *testing.T, b *bed, store storage.Store, prefix string) {
	t.Helper()
	var list []listEntry
	r := mustRun(t, b.env, "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	backups, _, err := catalog.ListBackups(context.Background(), store, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || len(backups) != 2 || !list[0].Complete || !list[1].Complete {
		t.Fatalf("list: %+v; the store holds %d backups under %q; want 2 complete", list, len(backups), prefix)
	}
	for _, e := range list {
		if !strings.HasPrefix(e.Key, prefix+"backup-") {
			t.Errorf("backup %q is not under the URL's prefix %q", e.Key, prefix)
		}
	}
	mustRun(t, b.env, "verify")
}

func checkRestoreAndPrune(t *testing.T, b *bed, store storage.Store, prefix string) {
	t.Helper()
	to := testenv.UniqueName("stores")
	t.Cleanup(func() { _ = b.mongo.Client.Database(to).Drop(context.Background()) })
	mustRun(t, b.env, "restore", "--ns-from", b.mongo.DB+".*", "--ns-to", to+".*")
	compareSnapshots(t, takeSnapshot(t, b.mongo.Client, to), takeSnapshot(t, b.mongo.Client, b.mongo.DB))
	count := func() int {
		backups, _, err := catalog.ListBackups(context.Background(), store, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return len(backups)
	}
	mustRun(t, b.env, "prune", "--keep-last", "1", "--max-age", "1s", "--max-staleness", "1h", "--dry-run")
	if n := count(); n != 2 {
		t.Fatalf("prune --dry-run left %d backups, want 2", n)
	}
	mustRun(t, b.env, "prune", "--keep-last", "1", "--max-age", "1s", "--max-staleness", "1h", "--abort-stale-uploads")
	if n := count(); n != 1 {
		t.Fatalf("prune --keep-last 1 left %d backups, want 1", n)
	}
}

// checkPITR runs pitr while the database changes, stops it, and restores to a time
// between two phases of writes.
func checkPITR(t *testing.T, b *bed, store storage.Store, prefix string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		var so, se syncBuffer
		code := run(ctx, []string{"pitr", "--interval", "300ms", "--poll", "50ms"}, b.env.lookup, &so, &se)
		done <- result{stdout: so.String(), stderr: se.String(), code: code}
	}()
	pitrWrites(t, b, "A", 20, 60)
	at := newestTS(t, b.mongo.Client)
	atT := takeSnapshot(t, b.mongo.Client, b.mongo.DB)
	time.Sleep(time.Until(time.Unix(int64(at.T)+1, 0).Add(50 * time.Millisecond)))
	pitrWrites(t, b, "B", 50, 100)
	newest := newestTS(t, b.mongo.Client)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		oc, err := catalog.ReadOplogCatalog(context.Background(), store, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if last, ok := oc.BuildChains().Last(); ok && !last.Before(newest) {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("pitr ended early: %s", r)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive did not reach the newest entry %s within a minute", newest)
		}
	}
	cancel()
	if r := <-done; r.code != 0 {
		t.Fatalf("pitr after its context ended: %s", r)
	}
	to := testenv.UniqueName("storespitr")
	t.Cleanup(func() { _ = b.mongo.Client.Database(to).Drop(context.Background()) })
	target := fmt.Sprintf("%d,%d", at.T, at.I)
	mustRun(t, b.env, "restore", "--to-time", target, "--ns-from", b.mongo.DB+".*", "--ns-to", to+".*")
	compareSnapshots(t, takeSnapshot(t, b.mongo.Client, to), atT)
}
