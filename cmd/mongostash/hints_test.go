package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/stream"
)

// TestRestoreIntoExistingDataHints: a restore into the database that already holds the
// data has every document refused as a duplicate: it exits 1, logs a few refusals (not
// one per document, nor the report's ten), and one line — and its error — says to use
// --drop or --ns-from/--ns-to.
func TestRestoreIntoExistingDataHints(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	docs := make([]any, 200)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := b.mongo.Client.Database(b.mongo.DB).Collection("c").InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env, "backup")
	r := runCLI(t, b.env, "restore")
	if r.code != exitFailed {
		t.Fatalf("want exit 1, got %s", r)
	}
	if n := strings.Count(r.stderr, `"msg":"document refused"`); n < 1 || n > shownRefusals {
		t.Errorf("%d refused documents logged one by one, want 1 to %d:\n%s", n, shownRefusals, r.stderr)
	}
	hint := "all 200 refused documents already exist in the target: restore with --drop to replace the collections, or beside them with --ns-from/--ns-to"
	if strings.Count(r.stderr, hint) != 2 { // the summary line and the error
		t.Errorf("want the hint in the summary line and in the error:\n%s", r.stderr)
	}
}

// TestPruneDryRunSaysKeepWhenStale: when backups have stopped, prune deletes nothing, and
// its dry-run plan says keep for every backup (with the reason), not delete.
func TestPruneDryRunSaysKeepWhenStale(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	for _, age := range []time.Duration{40, 50, 60} {
		at := time.Now().Add(-age * 24 * time.Hour)
		key := catalog.BackupKey("", at, stream.Zstd, stream.Unencrypted)
		putObject(t, b, key, []byte("complete"))
		manifestFor(t, b, key, []byte("complete"), at)
	}
	r := runCLI(t, b.env, "prune", "--dry-run", "--json")
	if r.code != exitFailed || !strings.Contains(r.stderr, "backups have stopped") {
		t.Fatalf("want exit 1 saying backups have stopped, got %s", r)
	}
	var plan []planEntry
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || len(plan) != 3 {
		t.Fatalf("plan %q: %v", r.stdout, err)
	}
	held := 0
	for _, e := range plan {
		if e.Action != "keep" {
			t.Errorf("%s: %s %v, want keep: nothing is deleted", e.Key, e.Action, e.Reasons)
		}
		if strings.Contains(strings.Join(e.Reasons, "; "), "nothing is deleted while backups have stopped") {
			held++
		}
	}
	if held != 2 { // the two older ones, which the max age alone would delete
		t.Errorf("%d lines say the staleness guard keeps them, want 2: %+v", held, plan)
	}
	if n := len(listKeys(t, b)); n != 6 {
		t.Errorf("%d objects left, want the 6 there were", n)
	}
}
