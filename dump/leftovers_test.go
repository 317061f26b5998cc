package dump

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestOperationIDs: the opids killOp is given come from $currentOp documents as MongoDB
// writes them — a number from a replica-set member, a "shard:number" string through
// mongos. No server of the test bed kills operations (FerretDB v1 and v2 have no killOp),
// so the documents here are built in the shape MongoDB's $currentOp documents; the ones
// without an opid (FerretDB v2 lists PostgreSQL backends with an empty one) are skipped.
func TestOperationIDs(t *testing.T) {
	docs := []bson.D{
		{{Key: "type", Value: "op"}, {Key: "opid", Value: int32(4711)}, {Key: "ns", Value: "db.mongostash_tmp_0123456789ab"}, {Key: "op", Value: "insert"}},
		{{Key: "type", Value: "op"}, {Key: "opid", Value: "shard01:99"}, {Key: "ns", Value: "db.mongostash_tmp_0123456789ab"}},
		{{Key: "type", Value: "unknown"}, {Key: "opid", Value: ""}},
		{{Key: "type", Value: "idleSession"}},
	}
	var ops []bson.Raw
	for _, d := range docs {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, raw)
	}
	ids := operationIDs(ops)
	if len(ids) != 2 || ids[0].Int32() != 4711 || ids[1].StringValue() != "shard01:99" {
		t.Fatalf("got %v, want [4711 shard01:99]", ids)
	}
}

// TestRestoreRechecksLeftoversAfterSwap: a temporary collection that appears while the
// restore runs — an interrupted run's insert that the server ran only after this restore
// had dropped its leftovers and waited — is found after the swap, dropped and reported;
// the restore succeeds with the target as the backup holds it. The late insert is made by
// the test at the first swap step, on the real server.
func TestRestoreRechecksLeftoversAfterSwap(t *testing.T) {
	b := newSwapBed(t)
	late := TemporaryPrefix + "feedfacecafe"
	stats, err := b.restore(t, ctxT(t), RestoreOptions{Filter: undotted(t), swapHook: func(step int, _ string, run func() error) error {
		if step == 1 {
			if _, err := b.m.Client.Database(b.m.DB).Collection(late).InsertOne(context.Background(), bson.D{{Key: "_id", Value: 1}}); err != nil {
				return err
			}
		}
		return run()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(stats.Leftovers) != "["+b.m.DB+"."+late+"]" {
		t.Errorf("leftovers reported: %v, want the late one", stats.Leftovers)
	}
	got := snapshot(t, b.m.Client, b.m.DB)
	if strings.Contains(got.names(), TemporaryPrefix) {
		t.Errorf("collections after the restore: %s", got.names())
	}
}
