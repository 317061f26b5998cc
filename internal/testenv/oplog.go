package testenv

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// trimStep bounds the entries one delete of TrimOplog matches: FerretDB v1 (SQLite) refuses
// a delete matching more rows than its SQL variable limit ("too many SQL variables"), and
// the test server's oplog holds every test's writes.
const trimStep = 500

// TrimOplog deletes the entries of local.oplog.rs with ts <= upTo, oldest first, as an oplog
// too small for a long operation would lose them.
func TrimOplog(ctx context.Context, c *mongo.Client, upTo bson.Timestamp) error {
	coll := c.Database("local").Collection("oplog.rs")
	for {
		opts := options.Find().SetSort(bson.D{{Key: "ts", Value: 1}}).SetLimit(trimStep).SetProjection(bson.D{{Key: "ts", Value: 1}})
		cur, err := coll.Find(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lte", Value: upTo}}}}, opts)
		if err != nil {
			return fmt.Errorf("trim the oplog: %w", err)
		}
		var last bson.Timestamp
		n := 0
		for cur.Next(ctx) {
			t, i, ok := cur.Current.Lookup("ts").TimestampOK()
			if ok {
				last, n = bson.Timestamp{T: t, I: i}, n+1
			}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return fmt.Errorf("trim the oplog: %w", err)
		}
		if n == 0 {
			return nil
		}
		if _, err := coll.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lte", Value: last}}}}); err != nil {
			return fmt.Errorf("trim the oplog: %w", err)
		}
	}
}
