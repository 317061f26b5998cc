package dump

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
)

func mustRaw(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRestorableIndexes: legacy specs (ns, v:1, Decimal128 v, numeric key values of every
// BSON number type) become createIndexes specs; the _id index and nameless specs drop out;
// key order is kept.
func TestRestorableIndexes(t *testing.T) {
	dec1, _ := bson.ParseDecimal128("1")
	decV, _ := bson.ParseDecimal128("2")
	in := []bson.Raw{
		mustRaw(t, bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}),
		mustRaw(t, bson.D{{Key: "v", Value: decV}, {Key: "key", Value: bson.D{{Key: "b", Value: -1.0}, {Key: "a", Value: int64(1)}}}, {Key: "name", Value: "b_-1_a_1"}, {Key: "ns", Value: "test.bar"}, {Key: "unique", Value: true}}),
		mustRaw(t, bson.D{{Key: "v", Value: int32(1)}, {Key: "key", Value: bson.D{{Key: "c", Value: dec1}, {Key: "loc", Value: "2dsphere"}}}, {Key: "name", Value: "c_1_loc_2dsphere"}}),
		mustRaw(t, bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: 1.5}}}, {Key: "name", Value: "fractional"}}),
		mustRaw(t, bson.D{{Key: "key", Value: bson.D{{Key: "nameless", Value: int32(1)}}}}),
	}
	got, err := restorableIndexes(in)
	if err != nil {
		t.Fatal(err)
	}
	want := bson.A{
		bson.D{{Key: "key", Value: bson.D{{Key: "b", Value: int32(-1)}, {Key: "a", Value: int32(1)}}}, {Key: "name", Value: "b_-1_a_1"}, {Key: "unique", Value: true}},
		bson.D{{Key: "key", Value: bson.D{{Key: "c", Value: int32(1)}, {Key: "loc", Value: "2dsphere"}}}, {Key: "name", Value: "c_1_loc_2dsphere"}},
		bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: 1.5}}}, {Key: "name", Value: "fractional"}},
	}
	gb, _ := bson.Marshal(bson.D{{Key: "i", Value: got}})
	wb, _ := bson.Marshal(bson.D{{Key: "i", Value: want}})
	if string(gb) != string(wb) {
		t.Errorf("got  %s\nwant %s", bson.Raw(gb), bson.Raw(wb))
	}
}

// TestCreateCommand: options pass through in order, minus those create refuses.
func TestCreateCommand(t *testing.T) {
	md := &archive.Metadata{Options: mustRaw(t, bson.D{
		{Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 20)}, {Key: "autoIndexId", Value: false},
		{Key: "validator", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$exists", Value: true}}}}}, {Key: "validationLevel", Value: "strict"},
	})}
	got, _ := bson.Marshal(createCommand("c", md))
	want, _ := bson.Marshal(bson.D{{Key: "create", Value: "c"}, {Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 20)},
		{Key: "validator", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$exists", Value: true}}}}}, {Key: "validationLevel", Value: "strict"}})
	if string(got) != string(want) {
		t.Errorf("got  %s\nwant %s", bson.Raw(got), bson.Raw(want))
	}
	got, _ = bson.Marshal(createCommand("c", nil))
	want, _ = bson.Marshal(bson.D{{Key: "create", Value: "c"}})
	if string(got) != string(want) {
		t.Errorf("no metadata: got %s", bson.Raw(got))
	}
}
