package dump

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestDumpOfUpdatedCollectionHoldsEachDocumentOnce: a collection whose documents were
// replaced, grown, deleted and upserted is dumped with each document exactly once. FerretDB
// v2.7 (DocumentDB) fails this for a natural-order scan that pages through getMore: it
// returns updated documents again, so the dump must not depend on it.
func TestDumpOfUpdatedCollectionHoldsEachDocumentOnce(t *testing.T) {
	m := testenv.NewMongo(t)
	coll := m.Client.Database(m.DB).Collection("churn")
	var docs []any
	for i := range 2500 { // more than one cursor batch (cursorBatchDocs)
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "n", Value: int32(0)}})
	}
	if _, err := coll.InsertMany(ctxT(t), docs); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 500 {
		id := int32(rng.IntN(2700))
		var err error
		switch rng.IntN(3) {
		case 0:
			_, err = coll.ReplaceOne(ctxT(t), bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "_id", Value: id}, {Key: "n", Value: int32(i)}, {Key: "pad", Value: fmt.Sprintf("%0200d", i)}},
				options.Replace().SetUpsert(true))
		case 1:
			_, err = coll.UpdateOne(ctxT(t), bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int32(1)}}}})
		case 2:
			_, err = coll.DeleteOne(ctxT(t), bson.D{{Key: "_id", Value: id}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want, err := coll.CountDocuments(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	_, stats := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}})
	if len(stats.Namespaces) != 1 || stats.Namespaces[0].Documents != want {
		t.Fatalf("the dump holds %+v, the collection %d documents", stats.Namespaces, want)
	}
}
