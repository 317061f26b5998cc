package dump

import (
	"bytes"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestRestoreOneCollectionUsesEveryWorker: one collection of 2 MiB batches keeps every
// insertion worker busy at once — with 12 workers too, whose batches would not all fit the
// 16 MiB memory budget at full size (they are made smaller instead) — and never more.
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
			st, err := Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn, Workers: workers})
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
