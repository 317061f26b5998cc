// Package sample fills a database with varied documents for the demo, the integration
// tests and the benchmarks: every BSON type FerretDB stores, nested documents and arrays,
// a capped collection, secondary, compound and unique indexes, an empty collection and a
// collection with a dot in its name.
package sample

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Counts says how many documents Load wrote to each collection.
type Counts map[string]int64

// Load creates the sample collections in db with about n documents in all (orders gets
// most of them) and returns the per-collection counts. Documents are deterministic for a
// given n, so two loads compare equal.
func Load(ctx context.Context, client *mongo.Client, db string, n int) (Counts, error) {
	d := client.Database(db)
	counts := Counts{}
	rng := rand.New(rand.NewPCG(1, uint64(n)))

	if err := d.CreateCollection(ctx, "events", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<20).SetMaxDocuments(500)); err != nil {
		return nil, fmt.Errorf("create events: %w", err)
	}
	if err := d.CreateCollection(ctx, "empty"); err != nil {
		return nil, fmt.Errorf("create empty: %w", err)
	}
	counts["empty"] = 0

	users := max(n/20, 2)
	if err := insert(ctx, d.Collection("users"), users, func(i int) bson.D { return user(i, rng) }); err != nil {
		return nil, err
	}
	counts["users"] = int64(users)

	orders := max(n-users-300-50, 1)
	if err := insert(ctx, d.Collection("orders"), orders, func(i int) bson.D { return order(i, users, rng) }); err != nil {
		return nil, err
	}
	counts["orders"] = int64(orders)

	if err := insert(ctx, d.Collection("events"), 300, func(i int) bson.D {
		return bson.D{{Key: "_id", Value: int32(i)}, {Key: "kind", Value: []string{"login", "logout", "buy"}[i%3]}, {Key: "at", Value: bson.DateTime(1_700_000_000_000 + int64(i)*1000)}}
	}); err != nil {
		return nil, err
	}
	counts["events"] = 300

	if err := insert(ctx, d.Collection("audit.log"), 50, func(i int) bson.D {
		return bson.D{{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(1_700_000_000+int64(i), 0))}, {Key: "msg", Value: fmt.Sprintf("entry %d", i)}}
	}); err != nil {
		return nil, err
	}
	counts["audit.log"] = 50

	idx := []struct {
		coll  string
		model mongo.IndexModel
	}{
		{"orders", mongo.IndexModel{Keys: bson.D{{Key: "customer", Value: 1}, {Key: "date", Value: -1}}}},
		{"orders", mongo.IndexModel{Keys: bson.D{{Key: "sku", Value: 1}}, Options: options.Index().SetUnique(true).SetName("sku_unique")}},
		{"users", mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{"users", mongo.IndexModel{Keys: bson.D{{Key: "tags", Value: 1}}, Options: options.Index().SetSparse(true)}},
	}
	for _, ix := range idx {
		if _, err := d.Collection(ix.coll).Indexes().CreateOne(ctx, ix.model); err != nil {
			return nil, fmt.Errorf("create index on %s: %w", ix.coll, err)
		}
	}
	return counts, nil
}

func insert(ctx context.Context, c *mongo.Collection, n int, gen func(int) bson.D) error {
	const batch = 1000
	for start := 0; start < n; start += batch {
		docs := make([]any, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			docs = append(docs, gen(i))
		}
		if _, err := c.InsertMany(ctx, docs); err != nil {
			return fmt.Errorf("insert into %s: %w", c.Name(), err)
		}
	}
	return nil
}

func user(i int, rng *rand.Rand) bson.D {
	d := bson.D{
		{Key: "_id", Value: int32(i)},
		{Key: "email", Value: fmt.Sprintf("user%d@example.com", i)},
		{Key: "name", Value: fmt.Sprintf("User Nümber %d ✓", i)},
		{Key: "active", Value: i%3 != 0},
		{Key: "created", Value: bson.DateTime(1_600_000_000_000 + int64(i)*86_400_000)},
		{Key: "score", Value: float64(rng.IntN(100000)) / 7},
		{Key: "visits", Value: int64(rng.IntN(1 << 40))},
		{Key: "address", Value: bson.D{{Key: "city", Value: []string{"Oslo", "Lyon", "Kyoto", "Lima"}[i%4]}, {Key: "zip", Value: fmt.Sprintf("%05d", rng.IntN(99999))}}},
		{Key: "avatar", Value: bson.Binary{Subtype: 0, Data: []byte{byte(i), byte(i >> 8), 0xff, 0x00}}},
		{Key: "uuid", Value: bson.Binary{Subtype: 4, Data: []byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}}},
		{Key: "pattern", Value: bson.Regex{Pattern: "^user" + fmt.Sprint(i), Options: "i"}},
		{Key: "seen", Value: bson.Timestamp{T: uint32(1_700_000_000 + i), I: 1}},
		{Key: "note", Value: nil},
	}
	if i%2 == 0 {
		d = append(d, bson.E{Key: "tags", Value: bson.A{"a", "b", int32(i % 7)}})
	}
	return d
}

func order(i, users int, rng *rand.Rand) bson.D {
	items := bson.A{}
	for j := range 1 + i%4 {
		items = append(items, bson.D{{Key: "sku", Value: fmt.Sprintf("P-%04d", (i+j)%997)}, {Key: "qty", Value: int32(1 + j)}, {Key: "price", Value: float64(rng.IntN(10000)) / 100}})
	}
	return bson.D{
		{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(1_700_000_000+int64(i), 0))},
		{Key: "sku", Value: fmt.Sprintf("ORD-%08d", i)},
		{Key: "customer", Value: int32(i % users)},
		{Key: "date", Value: bson.DateTime(1_700_000_000_000 + int64(i)*60_000)},
		{Key: "items", Value: items},
		{Key: "total", Value: float64(rng.IntN(1000000)) / 100},
		{Key: "status", Value: []string{"new", "paid", "shipped", "returned"}[i%4]},
		{Key: "comment", Value: fmt.Sprintf("Order %d: please ring twice; fragile <glass> & \"care\"", i)},
	}
}
