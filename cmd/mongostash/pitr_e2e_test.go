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
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
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
	waitArchived(t, store, newestTS(t, b.mongo.Client), done)
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

// TestPITRFromABackupAtAnEmptyOplog: a FerretDB v1 whose oplog was just created (the
// database's documents were written before, so the oplog is empty) gets a base backup
// with --oplog: consistent at 0,0, before the oplog's first entry. `mongostash pitr`,
// started after it, begins its chain at the oplog's first entry (the oplog never dropped
// one), so the window opens at that backup: `list --windows` shows it, and restore
// --to-time to a point after writes made later equals the database at that point.
func TestPITRFromABackupAtAnEmptyOplog(t *testing.T) {
	_, url := testenv.PrivateFerretDB(t)
	m := testenv.ConnectMongo(t, url)
	b := newBed(t)
	b.mongo = m
	b.env = b.env.with("MONGO_URL", m.URL, "MONGO_DATABASE", m.DB, "BACKUP_OPLOG", "true")
	pitrWrites(t, b, "before the oplog", 0, 20)
	testenv.CreateOplog(t, m)
	mustRun(t, b.env, "backup")
	store := openTestStore(t, b)
	cat, err := catalog.ReadCatalog(context.Background(), store, "")
	if err != nil || len(cat.Backups) != 1 || cat.Backups[0].Manifest.Oplog == nil || !cat.Backups[0].Manifest.Oplog.End.IsZero() {
		t.Fatalf("want one backup whose oplog was empty: %+v %v", cat, err)
	}
	base := cat.Backups[0].Key
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		var so, se syncBuffer
		code := run(ctx, []string{"pitr", "--interval", "300ms", "--poll", "50ms"}, b.env.lookup, &so, &se)
		done <- result{stdout: so.String(), stderr: se.String(), code: code}
	}()
	pitrWrites(t, b, "A", 10, 40)
	at := newestTS(t, m.Client)
	atT := takeSnapshot(t, m.Client, m.DB)
	time.Sleep(time.Until(time.Unix(int64(at.T)+1, 0).Add(50 * time.Millisecond)))
	pitrWrites(t, b, "B", 30, 60)
	waitArchived(t, store, newestTS(t, m.Client), done)
	cancel()
	if r := <-done; r.code != 0 {
		t.Fatalf("pitr: %s", r)
	}
	r := runCLI(t, b.env, "list", "--windows", "--json")
	var windows windowsReport
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &windows) != nil || len(windows.Windows) != 1 || windows.Windows[0].Base != base ||
		windows.Windows[0].To.Before(at) || !strings.Contains(windows.Windows[0].Description, "empty oplog") {
		t.Fatalf("list --windows: want one window opened by %s reaching %s: %s", base, at, r)
	}
	to := testenv.UniqueName("pitrempty")
	t.Cleanup(func() { _ = m.Client.Database(to).Drop(context.Background()) })
	if r := runCLI(t, b.env, "restore", "--to-time", fmt.Sprintf("%d,%d", at.T, at.I), "--ns-from", m.DB+".*", "--ns-to", to+".*"); r.code != 0 {
		t.Fatalf("restore --to-time: %s", r)
	}
	compareSnapshots(t, takeSnapshot(t, m.Client, to), atT)
}

// waitArchived waits until the archive's newest chain reaches newest (pitr running, its
// result on done).
func waitArchived(t *testing.T, store storage.Store, newest optime.Timestamp, done <-chan result) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		oc, err := catalog.ReadOplogCatalog(context.Background(), store, "")
		if err != nil {
			t.Fatal(err)
		}
		if last, ok := oc.BuildChains().Last(); ok && !last.Before(newest) {
			return
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
}
