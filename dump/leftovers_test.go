package dump

import (
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
