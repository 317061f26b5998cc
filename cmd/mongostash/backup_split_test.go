package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mongostash/mongostash/internal/sample"
)

// TestBackupSplitThreshold: --split-threshold and BACKUP_SPLIT_THRESHOLD reach the dump.
// With a threshold of one byte every collection is considered for a split read: where the
// server reads _id ranges from an index (FerretDB v2) they are read in ranges, where not
// (the test bed, FerretDB v1) by one cursor with a debug line saying why; with 0, none is
// considered. The backup restores completely either way.
func TestBackupSplitThreshold(t *testing.T) {
	b := newBed(t)
	counts, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 2000)
	if err != nil {
		t.Fatal(err)
	}
	considered := func(stderr string) bool {
		return strings.Contains(stderr, "reading in ranges") || strings.Contains(stderr, "read with one cursor: the server does not read _id ranges from an index")
	}
	e := b.env.with("LOG_LEVEL", "debug", "LOG_FORMAT", "json")
	if r := mustRun(t, e, "backup", "--split-threshold", "1"); !considered(r.stderr) {
		t.Errorf("--split-threshold 1: no collection was considered for a split read:\n%s", r.stderr)
	}
	if r := mustRun(t, e.with("BACKUP_SPLIT_THRESHOLD", "1"), "backup"); !considered(r.stderr) {
		t.Errorf("BACKUP_SPLIT_THRESHOLD=1: no collection was considered for a split read")
	}
	if r := mustRun(t, e.with("BACKUP_SPLIT_THRESHOLD", "1"), "backup", "--split-threshold", "0"); considered(r.stderr) {
		t.Errorf("--split-threshold 0 (over the environment's 1) still split")
	}
	target := b.mongo.DB + "_copy"
	t.Cleanup(func() { _ = b.mongo.Client.Database(target).Drop(context.Background()) })
	mustRun(t, b.env.with("BACKUP_SPLIT_THRESHOLD", "1"), "restore", "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*")
	for c, n := range counts {
		got, err := b.mongo.Client.Database(target).Collection(c).CountDocuments(context.Background(), map[string]any{})
		if err != nil || got != n {
			t.Errorf("%s: %d documents restored of %d (%v)", c, got, n, err)
		}
	}
}

// TestBackupSplitFlagsRefused: a negative threshold or no cursor at all is a usage error.
func TestBackupSplitFlagsRefused(t *testing.T) {
	b := newBed(t)
	for _, args := range [][]string{{"--split-threshold", "-1"}, {"--parallel", "0"}} {
		r := runCLI(t, b.env, append([]string{"backup"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("backup %v: %s", args, r)
		}
	}
}
