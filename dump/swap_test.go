package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
)

// dbState is what a database holds: every collection's documents in _id order.
type dbState map[string][]bson.Raw

func snapshot(t *testing.T, client *mongo.Client, db string) dbState {
	t.Helper()
	names, err := client.Database(db).ListCollectionNames(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	s := dbState{}
	for _, n := range names {
		s[n] = rawDocs(t, client.Database(db).Collection(n))
	}
	return s
}

func (s dbState) names() string {
	var out []string
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// requireSame fails unless the database holds exactly what it held in want.
func requireSame(t *testing.T, got, want dbState) {
	t.Helper()
	if got.names() != want.names() {
		t.Fatalf("collections now: %s; before: %s", got.names(), want.names())
	}
	for n, docs := range want {
		if len(got[n]) != len(docs) {
			t.Fatalf("%s: %d documents, had %d", n, len(got[n]), len(docs))
		}
		for i := range docs {
			if !bytes.Equal(got[n][i], docs[i]) {
				t.Fatalf("%s: document %d changed", n, i)
			}
		}
	}
}

// swapBed is a database with the sample data, an archive of it, and live data changed
// since, so that "as before" and "as in the backup" differ in every collection.
type swapBed struct {
	m       *testenv.Mongo
	archive []byte
	before  dbState
}

func newSwapBed(t *testing.T) *swapBed {
	t.Helper()
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	if _, err := sample.Load(ctx, m.Client, m.DB, 1200); err != nil {
		t.Fatal(err)
	}
	data, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, ToolVersion: "test"})
	d := m.Client.Database(m.DB)
	for _, c := range []string{"users", "orders", "empty"} {
		if _, err := d.Collection(c).InsertOne(ctx, bson.D{{Key: "_id", Value: "changed-after-backup"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Collection("users").DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: 50}}}}); err != nil {
		t.Fatal(err)
	}
	return &swapBed{m: m, archive: data, before: snapshot(t, m.Client, m.DB)}
}

// undotted leaves out the dotted collection, which FerretDB cannot rename.
func undotted(t *testing.T) NamespaceFilter {
	f, err := ns.NewMatcher(nil, []string{"*.audit.log"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (b *swapBed) restore(t *testing.T, ctx context.Context, opts RestoreOptions) (RestoreStats, error) {
	t.Helper()
	opts.Drop = true
	return Restore(ctx, b.m.Client, bytes.NewReader(b.archive), opts)
}

// TestRestoreDropRefusesDottedNamesUpFront: FerretDB cannot rename a collection with a dot
// in its name. The pre-flight probe finds out before anything is written, names the
// collection and the reason, and the database is exactly as before — where the swap used
// to replace the other collections first and then fail.
func TestRestoreDropRefusesDottedNamesUpFront(t *testing.T) {
	b := newSwapBed(t)
	_, err := b.restore(t, ctxT(t), RestoreOptions{})
	if !errors.Is(err, ErrCannotReplace) {
		t.Fatalf("got %v, want ErrCannotReplace", err)
	}
	for _, want := range []string{b.m.DB + ".audit.log", "cannot rename collections whose names contain a dot", "nothing was written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), b.m.DB+".users") {
		t.Errorf("error %q names collections that could be replaced", err)
	}
	requireSame(t, snapshot(t, b.m.Client, b.m.DB), b.before)
}

// TestRestoreDropRollsBackEveryStep fails the swap at each of its steps in turn, both as a
// refusal (the step never happened) and as a lost answer (the step happened, the answer
// did not arrive): every time the database must end exactly as before, and say so.
func TestRestoreDropRollsBackEveryStep(t *testing.T) {
	b := newSwapBed(t)
	// Four existing collections are replaced (empty, events, orders, users): two steps each.
	total := 0
	for k := 1; ; k++ {
		stop := false
		for _, lost := range []bool{false, true} {
			t.Run(fmt.Sprintf("step %d lost answer %v", k, lost), func(t *testing.T) {
				injected := fmt.Errorf("injected failure of step %d", k)
				_, err := b.restore(t, ctxT(t), RestoreOptions{Filter: undotted(t), swapHook: func(step int, what string, run func() error) error {
					total = max(total, step)
					if step < k {
						return run()
					}
					if lost {
						if err := run(); err != nil {
							return err
						}
					}
					return injected
				}})
				if err == nil {
					stop = true // k is past the last step: the restore succeeded
					return
				}
				if !errors.Is(err, injected) || !strings.Contains(err.Error(), "existing collections are unchanged") {
					t.Fatalf("got %v, want the injected failure, rolled back", err)
				}
				requireSame(t, snapshot(t, b.m.Client, b.m.DB), b.before)
			})
		}
		if stop || t.Failed() {
			break
		}
	}
	if total != 8 {
		t.Errorf("the swap had %d steps, want 8 (4 collections, 2 renames each)", total)
	}
}

// TestRestoreDropCancelledDuringSwap: a cancellation (SIGTERM) after the swap began is
// rolled back, not left half done.
func TestRestoreDropCancelledDuringSwap(t *testing.T) {
	b := newSwapBed(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	_, err := b.restore(t, ctx, RestoreOptions{Filter: undotted(t), swapHook: func(step int, _ string, run func() error) error {
		if step == 3 { // the first collection is swapped in; the second is being moved aside
			cancel()
		}
		return run()
	}})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled during the swap") ||
		!strings.Contains(err.Error(), "rolled back: 2 collections") || !strings.Contains(err.Error(), "existing collections are unchanged") {
		t.Fatalf("got %v, want a cancellation during the swap, rolled back", err)
	}
	requireSame(t, snapshot(t, b.m.Client, b.m.DB), b.before)
}

// TestRestoreDropRollbackFails: when the server stops answering in the middle of the swap,
// the rollback cannot run; the error then says where every collection's data is, and
// every word of it is true. A second restore drops the restored copies it finds, reports
// but keeps what was moved aside, and succeeds.
func TestRestoreDropRollbackFails(t *testing.T) {
	b := newSwapBed(t)
	lost := errors.New("connection lost (injected)")
	_, err := b.restore(t, ctxT(t), RestoreOptions{
		Filter: undotted(t),
		swapHook: func(step int, _ string, run func() error) error {
			if step == 6 { // empty and events are swapped, orders is aside, its copy not in
				return lost
			}
			return run()
		},
		rollbackHook: func() error { return lost },
	})
	if err == nil || !strings.Contains(err.Error(), "rolling back failed too") || !strings.Contains(err.Error(), "NOT as before") {
		t.Fatalf("got %v, want a failed rollback", err)
	}
	msg := err.Error()
	t.Log(msg)
	now := snapshot(t, b.m.Client, b.m.DB)
	var asides, temps []string
	for n := range now {
		switch {
		case IsAside(n):
			asides = append(asides, n)
		case IsTemporary(n):
			temps = append(temps, n)
		}
	}
	if len(asides) != 3 || len(temps) != 2 {
		t.Fatalf("collections %s: want 3 moved aside (empty, events, orders) and 2 restored copies (orders, users)", now.names())
	}
	for _, n := range append(asides, temps...) {
		if !strings.Contains(msg, b.m.DB+"."+n) {
			t.Errorf("the error does not name %s", n)
		}
	}
	for _, a := range asides {
		orig := a[len(AsidePrefix)+13:] // mongostash_old_<12 hex>_<name>
		if len(now[a]) != len(b.before[orig]) {
			t.Errorf("%s holds %d documents, %s had %d", a, len(now[a]), orig, len(b.before[orig]))
		}
		if orig != "orders" && !strings.Contains(msg, fmt.Sprintf("to go back, drop %s.%s and rename %s.%s to %s", b.m.DB, orig, b.m.DB, a, orig)) {
			t.Errorf("the error does not say how to put %s back", orig)
		}
	}
	if _, ok := now["orders"]; ok {
		t.Errorf("orders exists, but the error says it was moved aside")
	}

	stats, err := b.restore(t, ctxT(t), RestoreOptions{Filter: undotted(t)})
	if err != nil {
		t.Fatalf("second restore: %v", err)
	}
	sort.Strings(stats.Leftovers)
	sort.Strings(temps)
	if fmt.Sprint(stats.Leftovers) != fmt.Sprint(prefixed(b.m.DB, temps)) || len(stats.MovedAside) != 3 {
		t.Errorf("second restore: leftovers dropped %v (want %v), moved aside found %v", stats.Leftovers, temps, stats.MovedAside)
	}
	after := snapshot(t, b.m.Client, b.m.DB)
	for _, a := range asides {
		if _, ok := after[a]; !ok {
			t.Errorf("%s, which holds the only copy of data, was dropped", a)
		}
	}
	for _, tmp := range temps {
		if _, ok := after[tmp]; ok {
			t.Errorf("the restored copy %s was not dropped", tmp)
		}
	}
}

func prefixed(db string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = db + "." + n
	}
	return out
}

// TestRestoreDropChecksArchiveBeforeSwap: CheckArchive sees every namespace of the archive
// before the swap; its refusal replaces nothing.
func TestRestoreDropChecksArchiveBeforeSwap(t *testing.T) {
	b := newSwapBed(t)
	refused := errors.New("the manifest disagrees (injected)")
	var seen []NamespaceStats
	_, err := b.restore(t, ctxT(t), RestoreOptions{Filter: undotted(t), CheckArchive: func(_ context.Context, got []NamespaceStats) error {
		seen = got
		return refused
	}})
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), "nothing was replaced") {
		t.Fatalf("got %v, want the check's refusal with nothing replaced", err)
	}
	requireSame(t, snapshot(t, b.m.Client, b.m.DB), b.before)
	var names []string
	for _, n := range seen {
		names = append(names, fmt.Sprintf("%s=%d", strings.TrimPrefix(n.Namespace, b.m.DB+"."), n.Documents))
	}
	if got := strings.Join(names, " "); got != "audit.log=50 empty=0 events=300 orders=790 users=60" {
		t.Errorf("CheckArchive saw %s", got)
	}
}

// TestRestoreDropRefusesChangedCopy: a restored copy changed behind the restore's back (here
// dropped and re-created by one insert, as a concurrent restore's leftover cleanup would)
// is never swapped in: its UUID changed, or, on a server that lists none, its count.
func TestRestoreDropRefusesChangedCopy(t *testing.T) {
	for _, noUUIDs := range []bool{false, true} {
		t.Run(fmt.Sprintf("noUUIDs=%v", noUUIDs), func(t *testing.T) { testRefusesChangedCopy(t, noUUIDs) })
	}
}

func testRefusesChangedCopy(t *testing.T, noUUIDs bool) {
	b := newSwapBed(t)
	_, err := b.restore(t, ctxT(t), RestoreOptions{Filter: undotted(t), noUUIDs: noUUIDs, CheckArchive: func(ctx context.Context, _ []NamespaceStats) error {
		d := b.m.Client.Database(b.m.DB)
		names, err := d.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return err
		}
		for _, n := range names {
			if IsTemporary(n) {
				if err := d.Collection(n).Drop(ctx); err != nil {
					return err
				}
				_, err := d.Collection(n).InsertOne(ctx, bson.D{{Key: "_id", Value: "late"}})
				return err
			}
		}
		return errors.New("no temporary collection found")
	}})
	want := "was dropped and created again"
	if noUUIDs {
		want = "holds 1 documents"
	}
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "was changed during the restore") || !strings.Contains(err.Error(), "existing collections are unchanged") {
		t.Fatalf("got %v, want the changed copy refused (%s)", err, want)
	}
	requireSame(t, snapshot(t, b.m.Client, b.m.DB), b.before)
}

// TestRestoreDropSwapsIn: the happy path still replaces the data, and leaves nothing of
// its own behind.
func TestRestoreDropSwapsIn(t *testing.T) {
	b := newSwapBed(t)
	if _, err := b.restore(t, ctxT(t), RestoreOptions{Filter: undotted(t)}); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, b.m.Client, b.m.DB)
	if got.names() != "audit.log,empty,events,orders,users" {
		t.Fatalf("collections after the swap: %s", got.names())
	}
	if len(got["users"]) != 60 || len(got["empty"]) != 0 || len(got["orders"]) != 790 {
		t.Errorf("after the swap: users %d, empty %d, orders %d documents", len(got["users"]), len(got["empty"]), len(got["orders"]))
	}
}

// TestRestoreDropsLeftovers: a restore (here without Drop) drops the temporary collections
// an interrupted restore left in its target database, reports them, and leaves what was
// moved aside alone.
func TestRestoreDropsLeftovers(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	if _, err := sample.Load(ctx, m.Client, m.DB, 100); err != nil {
		t.Fatal(err)
	}
	data, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, ToolVersion: "test"})
	if err := m.Client.Database(m.DB).Drop(ctx); err != nil {
		t.Fatal(err)
	}
	d := m.Client.Database(m.DB)
	for _, c := range []string{TemporaryPrefix + "0123456789ab", AsidePrefix + "0123456789ab_users"} {
		if _, err := d.Collection(c).InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(stats.Leftovers) != "["+m.DB+"."+TemporaryPrefix+"0123456789ab]" || fmt.Sprint(stats.MovedAside) != "["+m.DB+"."+AsidePrefix+"0123456789ab_users]" {
		t.Errorf("leftovers %v, moved aside %v", stats.Leftovers, stats.MovedAside)
	}
	got := snapshot(t, m.Client, m.DB)
	if got.names() != "audit.log,empty,events,"+AsidePrefix+"0123456789ab_users,orders,users" {
		t.Errorf("collections after the restore: %s", got.names())
	}
}

// TestDumpSkipsTemporaries: a backup never contains a restore's temporary collections,
// but does contain what a restore moved aside (possibly the only copy of that data).
func TestDumpSkipsTemporaries(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	d := m.Client.Database(m.DB)
	for _, c := range []string{"kept", TemporaryPrefix + "0123456789ab", AsidePrefix + "0123456789ab_kept"} {
		if _, err := d.Collection(c).InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	_, stats := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, ToolVersion: "test"})
	var names []string
	for _, n := range stats.Namespaces {
		names = append(names, strings.TrimPrefix(n.Namespace, m.DB+"."))
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "kept,"+AsidePrefix+"0123456789ab_kept" {
		t.Errorf("dumped %s", got)
	}
}

// TestRestoreNothingMatches: a filter that leaves nothing to restore is an error, naming
// what the archive holds, not a success that restored zero collections.
func TestRestoreNothingMatches(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	if _, err := sample.Load(ctx, m.Client, m.DB, 10); err != nil {
		t.Fatal(err)
	}
	data, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, ToolVersion: "test"})
	f, err := ns.NewMatcher([]string{"nosuchdb.*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{false, true} {
		_, err = Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{Filter: f, DryRun: dry})
		if !errors.Is(err, ErrNothingToRestore) || !strings.Contains(err.Error(), "the archive holds the databases "+m.DB) {
			t.Errorf("dry run %v: got %v, want ErrNothingToRestore naming %s", dry, err, m.DB)
		}
	}
}

// TestRestoreDropCleanupFailsBeforeSwap: when the server goes away before the swap, the
// existing collections were never touched, and the error says so — and names the restored
// copies it could not drop, which the next restore into the database drops.
func TestRestoreDropCleanupFailsBeforeSwap(t *testing.T) {
	b := newSwapBed(t)
	lost := errors.New("connection lost (injected)")
	_, err := b.restore(t, ctxT(t), RestoreOptions{
		Filter:       undotted(t),
		CheckArchive: func(context.Context, []NamespaceStats) error { return lost },
		rollbackHook: func() error { return lost },
	})
	if !errors.Is(err, lost) || !strings.Contains(err.Error(), "nothing was replaced: existing collections are unchanged; but what this restore wrote could not all be removed") {
		t.Fatalf("got %v", err)
	}
	now := snapshot(t, b.m.Client, b.m.DB)
	n := 0
	for name := range now {
		if IsTemporary(name) {
			n++
			if !strings.Contains(err.Error(), b.m.DB+"."+name+" is a restored copy") {
				t.Errorf("the error does not name %s", name)
			}
			delete(now, name)
		}
	}
	if n != 4 {
		t.Errorf("%d restored copies left, want 4", n)
	}
	requireSame(t, now, b.before)
}
