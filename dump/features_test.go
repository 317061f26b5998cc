package dump

import (
	"bytes"
	"context"
	"sort"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestRoundTripServerFeatures backs up and restores, through the live server, the values
// and index kinds that FerretDB v1 cannot hold and the golden archives otherwise stand in
// for: Decimal128, int64 extremes, and TTL, text, 2dsphere, hashed, partial and sparse
// unique indexes (FerretDB v2 and mongod hold them). Each feature is set up on its own
// collection; where the server refuses the setup itself, that subtest is skipped with the
// server's own answer. What restore does is never skipped.
func TestRoundTripServerFeatures(t *testing.T) {
	m := testenv.NewMongo(t)
	ctx := ctxT(t)
	future := bson.DateTime(time.Now().Add(48 * time.Hour).UnixMilli()) // TTL must not expire them meanwhile
	dec, err := bson.ParseDecimal128("12345678901234567890.123456789")
	if err != nil {
		t.Fatal(err)
	}
	features := []struct {
		name  string
		docs  []any
		index *mongo.IndexModel
	}{
		{"decimal128", []any{bson.D{{Key: "_id", Value: 1}, {Key: "price", Value: dec}, {Key: "neg", Value: bson.NewDecimal128(1<<63, 5)}}}, nil},
		{"int64_extremes", []any{bson.D{{Key: "_id", Value: 1}, {Key: "max", Value: int64(1<<63 - 1)}, {Key: "min", Value: int64(-1 << 63)}}}, nil},
		{"ttl", []any{bson.D{{Key: "_id", Value: 1}, {Key: "at", Value: future}}},
			&mongo.IndexModel{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(3600)}},
		{"text", []any{bson.D{{Key: "_id", Value: 1}, {Key: "body", Value: "the quick brown fox"}}},
			&mongo.IndexModel{Keys: bson.D{{Key: "body", Value: "text"}}}},
		{"2dsphere", []any{bson.D{{Key: "_id", Value: 1}, {Key: "loc", Value: bson.D{{Key: "type", Value: "Point"}, {Key: "coordinates", Value: bson.A{2.35, 48.85}}}}}},
			&mongo.IndexModel{Keys: bson.D{{Key: "loc", Value: "2dsphere"}}}},
		{"hashed", []any{bson.D{{Key: "_id", Value: 1}, {Key: "h", Value: "x"}}},
			&mongo.IndexModel{Keys: bson.D{{Key: "h", Value: "hashed"}}}},
		{"partial", []any{bson.D{{Key: "_id", Value: 1}, {Key: "score", Value: 7}}, bson.D{{Key: "_id", Value: 2}, {Key: "score", Value: 3}}},
			&mongo.IndexModel{Keys: bson.D{{Key: "score", Value: 1}}, Options: options.Index().SetPartialFilterExpression(bson.D{{Key: "score", Value: bson.D{{Key: "$gt", Value: 5}}}})}},
		{"sparse_unique", []any{bson.D{{Key: "_id", Value: 1}, {Key: "email", Value: "a@example.com"}}, bson.D{{Key: "_id", Value: 2}}},
			&mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetSparse(true)}},
	}
	src := m.Client.Database(m.DB)
	refused := map[string]string{} // feature → the server's answer to its setup
	for _, f := range features {
		c := src.Collection(f.name)
		if _, err := c.InsertMany(ctx, f.docs); err != nil {
			refused[f.name] = "this server refuses the documents: " + err.Error()
			continue
		}
		if f.index != nil {
			if _, err := c.Indexes().CreateOne(ctx, *f.index); err != nil {
				refused[f.name] = "this server cannot create the index: " + err.Error()
				_ = c.Drop(ctx)
			}
		}
	}
	if len(refused) == len(features) {
		t.Skip("this server holds none of these features (FerretDB v1): the golden archives cover them (TestRestoreGoldenArchives, TestRestoreGoldenIndexes)")
	}
	data, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}})
	target := testenv.UniqueName("feat")
	t.Cleanup(func() { _ = m.Client.Database(target).Drop(context.Background()) })
	rn, err := ns.NewRenamer([]string{m.DB + ".*"}, []string{target + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for _, f := range features {
		name := f.name
		t.Run(name, func(t *testing.T) {
			if why := refused[name]; why != "" {
				t.Skipf("%s (the golden archives cover it)", why)
			}
			from, to := src.Collection(name), m.Client.Database(target).Collection(name)
			want, got := rawDocs(t, from), rawDocs(t, to)
			if len(got) != len(want) {
				t.Fatalf("%d documents, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("document %d:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
			if w, g := indexSpecs(t, from), indexSpecs(t, to); len(g) != len(w) {
				t.Errorf("indexes:\n got %v\nwant %v", g, w)
			} else {
				for i := range w {
					if !bytes.Equal(g[i], w[i]) {
						t.Errorf("index %d:\n got %s\nwant %s", i, g[i], w[i])
					}
				}
			}
		})
	}
}

// indexSpecs lists a collection's index specs by name, without the "ns" field old
// servers add.
func indexSpecs(t *testing.T, c *mongo.Collection) []bson.Raw {
	t.Helper()
	cur, err := c.Indexes().List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	for cur.Next(ctxT(t)) {
		out = append(out, withoutNS(t, cur.Current))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Lookup("name").StringValue() < out[j].Lookup("name").StringValue()
	})
	return out
}

func withoutNS(t *testing.T, spec bson.Raw) bson.Raw {
	t.Helper()
	elems, err := spec.Elements()
	if err != nil {
		t.Fatal(err)
	}
	var d bson.D
	for _, e := range elems {
		if e.Key() != "ns" {
			d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	return mustMarshal(t, d)
}
