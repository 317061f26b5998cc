package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestPITREndToEnd is the test across both halves of point-in-time recovery: a
// base backup; `mongostash pitr` running with a short interval; writes in phase A; T;
// writes in phase B (in a later second); pitr stopped (its context cancelled, as SIGTERM
// does); restore --to-time T, as an oplog timestamp and as an RFC 3339 second, into other
// databases equals a copy taken at T exactly. It needs the `pitr` command (the archiver).
func TestPITREndToEnd(t *testing.T) {
	b := newOplogBed(t)
	b.env = b.env.with("BACKUP_OPLOG", "true")
	store := openTestStore(t, b)
	pitrWrites(t, b, "setup", 0, 40)
	mustRun(t, b.env, "backup")
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
	for deadline := time.Now().Add(time.Minute); ; {
		oc, err := catalog.ReadOplogCatalog(context.Background(), store, "")
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
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if r := <-done; r.code != 0 {
		t.Fatalf("pitr after its context ended: %s", r)
	}
	for _, target := range []string{fmt.Sprintf("%d,%d", at.T, at.I), time.Unix(int64(at.T), 0).UTC().Format(time.RFC3339)} {
		to := testenv.UniqueName("pitre2e")
		t.Cleanup(func() { _ = b.mongo.Client.Database(to).Drop(context.Background()) })
		if r := runCLI(t, b.env, "restore", "--to-time", target, "--ns-from", b.mongo.DB+".*", "--ns-to", to+".*"); r.code != 0 {
			t.Fatalf("restore --to-time %s: %s", target, r)
		}
		compareSnapshots(t, takeSnapshot(t, b.mongo.Client, to), atT)
	}
}
