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

// TestRestoreOneCollectionUsesEveryWorker: one collection of 2 MiB batches can keep every
// insertion worker busy at once — with 12 workers too, whose batches would not all fit the
// 16 MiB memory budget at full size (they are made smaller instead) — and never more. Each
// insert waits (a test hook) until as many as there are workers are in flight, or a few
// seconds: so the server's speed cannot hide a restore that holds fewer.
func TestRestoreOneCollectionUsesEveryWorker(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	var docs []any
	for i := range 2500 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: bytes.Repeat([]byte{byte(i)}, 16<<10)}})
	}
	if _, err := m.Client.Database(m.DB).Collection("big").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	data, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, ToolVersion: "test"})
	for _, workers := range []int{4, 12} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			target := testenv.UniqueName("w")
			t.Cleanup(func() { _ = m.Client.Database(target).Drop(ctx) })
			rn, err := ns.NewRenamer([]string{m.DB + ".*"}, []string{target + ".*"})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			cond := sync.NewCond(&mu)
			waiting := 0
			hook := func() {
				mu.Lock()
				defer mu.Unlock()
				waiting++
				cond.Broadcast()
				deadline := time.Now().Add(3 * time.Second)
				for waiting < workers && time.Now().Before(deadline) {
					go func() { time.Sleep(50 * time.Millisecond); cond.Broadcast() }()
					cond.Wait()
				}
				waiting--
			}
			st, err := Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn, Workers: workers, insertHook: hook})
			if err != nil {
				t.Fatal(err)
			}
			if st.Inserted != 2500 || st.PeakInserts != int64(workers) {
				t.Errorf("%d workers: %d documents, at most %d inserts at once", workers, st.Inserted, st.PeakInserts)
			}
			if st.PeakBuffered > restoreMemoryBudget {
				t.Errorf("%d bytes held, budget %d", st.PeakBuffered, restoreMemoryBudget)
			}
			t.Logf("%d workers: at most %d inserts at once, %d bytes held", workers, st.PeakInserts, st.PeakBuffered)
		})
	}
}
