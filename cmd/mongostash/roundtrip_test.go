package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestBackupRestoreRoundTrip is the main job: backup with each compression, list, verify,
// restore into another database, and compare documents, options and indexes byte for byte.
func TestBackupRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	for _, comp := range []string{"zstd", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			b := newBed(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := sample.Load(ctx, b.mongo.Client, b.mongo.DB, 1500); err != nil {
				t.Fatal(err)
			}
			e := b.env.with("BACKUP_COMPRESSION", comp)
			mustRun(t, e, "backup")

			var list []listEntry
			r := mustRun(t, e, "list", "--json")
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
				t.Fatalf("list --json: %v\n%s", err, r.stdout)
			}
			if len(list) != 1 || !list[0].Complete || string(list[0].Compression) != comp || list[0].Size <= 0 {
				t.Fatalf("list: got %+v, want one complete %s backup", list, comp)
			}
			wantExt := map[string]string{"zstd": ".dump.zst", "gzip": ".dump.gz", "none": ".dump"}[comp]
			if !strings.HasSuffix(list[0].Key, wantExt) || !strings.HasPrefix(list[0].Key, "backup-") {
				t.Errorf("key %q: want backup-<time>%s", list[0].Key, wantExt)
			}
			mustRun(t, e, "verify", "latest")

			target := testenv.UniqueName("r")
			t.Cleanup(func() { _ = b.mongo.Client.Database(target).Drop(context.Background()) })
			mustRun(t, e, "restore", "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*")
			compareSnapshots(t, takeSnapshot(t, b.mongo.Client, target), takeSnapshot(t, b.mongo.Client, b.mongo.DB))
		})
	}
}
