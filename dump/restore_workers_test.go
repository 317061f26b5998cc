package dump

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestRestoreWorkersAreSharedAndOneCollectionGetsThemAll: a restore has Workers inserts in
// flight at once, shared by all its collections: an archive of one collection keeps every
// one of them busy — 12 too, whose 2 MiB batches would not all fit the 16 MiB memory budget
// at full size (they are made smaller instead) — and an archive of three never has more in
// flight. Each insert waits (a test hook) until as many as there are workers are in flight,
// or a few seconds: so the server's speed cannot hide a restore that holds fewer.
func TestRestoreWorkersAreSharedAndOneCollectionGetsThemAll(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	for coll, n := range map[string]int{"big": 2500, "small1": 400, "small2": 400} {
		var docs []any
		for i := range n {
			docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: bytes.Repeat([]byte{byte(i)}, 16<<10)}})
		}
		if _, err := m.Client.Database(m.DB).Collection(coll).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	bigOnly, err := ns.NewMatcher([]string{m.DB + ".big"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, Filter: bigOnly, ToolVersion: "test"})
	three, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, ToolVersion: "test"})
	for _, c := range []struct {
		archive []byte
		docs    int64
		workers int
	}{{one, 2500, 4}, {one, 2500, 12}, {three, 3300, 4}} {
		t.Run(fmt.Sprintf("%d documents, %d workers", c.docs, c.workers), func(t *testing.T) {
			target := testenv.UniqueName("w")
			t.Cleanup(func() { _ = m.Client.Database(target).Drop(ctx) })
			rn, err := ns.NewRenamer([]string{m.DB + ".*"}, []string{target + ".*"})
			if err != nil {
				t.Fatal(err)
			}
			st, err := Restore(ctx, m.Client, bytes.NewReader(c.archive), RestoreOptions{Renamer: rn, Workers: c.workers, insertHook: holdUntil(c.workers)})
			if err != nil {
				t.Fatal(err)
			}
			if st.Inserted != c.docs || st.PeakInserts != int64(c.workers) {
				t.Errorf("%d documents, at most %d inserts at once; want %d and %d", st.Inserted, st.PeakInserts, c.docs, c.workers)
			}
			if st.PeakBuffered > restoreMemoryBudget {
				t.Errorf("%d bytes held, budget %d", st.PeakBuffered, restoreMemoryBudget)
			}
			t.Logf("at most %d inserts at once, %d bytes held", st.PeakInserts, st.PeakBuffered)
		})
	}
}

// holdUntil is an insert hook that holds each insert until n are held, or 3 seconds passed.
func holdUntil(n int) func() {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	waiting := 0
	return func() {
		mu.Lock()
		defer mu.Unlock()
		waiting++
		cond.Broadcast()
		deadline := time.Now().Add(3 * time.Second)
		for waiting < n && time.Now().Before(deadline) {
			go func() { time.Sleep(50 * time.Millisecond); cond.Broadcast() }()
			cond.Wait()
		}
		waiting--
	}
}
