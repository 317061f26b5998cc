package testenv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

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

// NewMongoWithOplog is NewMongo on a server that logs its writes to a capped
// local.oplog.rs, as FerretDB v1 does once that collection exists: a FerretDB v1 of the
// test's own, so that the oplog holds only this test's writes and no other test's writes
// are slowed by logging. It is FerretDB v1 even when MONGOSTASH_TEST_MONGO_URL points the
// other tests at another server: FerretDB v2 writes no oplog. Its oplog holds one entry,
// so that a capture has a start.
func NewMongoWithOplog(tb testing.TB) *Mongo {
	tb.Helper()
	_, url := PrivateFerretDB(tb)
	m := ConnectMongo(tb, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := EnableOplog(ctx, m.Client, m.DB); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return m
}

// CreateOplog creates m's local.oplog.rs (capped, 1 GiB), as one enables the oplog of a
// FerretDB v1: the writes from then on are logged, those before are not, and the oplog is
// empty until the next write.
func CreateOplog(tb testing.TB, m *Mongo) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := createOplog(ctx, m.Client); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
}

// createOplog creates local.oplog.rs (capped, 1 GiB) unless it exists.
func createOplog(ctx context.Context, c *mongo.Client) error {
	err := c.Database("local").RunCommand(ctx, bson.D{{Key: "create", Value: "oplog.rs"},
		{Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 30)}}).Err()
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Code == 48) { // 48: NamespaceExists
		return fmt.Errorf("create local.oplog.rs: %w", err)
	}
	return nil
}

// EnableOplog makes a FerretDB v1 log its writes: it creates the capped local.oplog.rs
// (1 GiB) unless it exists, and writes one entry (into db.oplog_seed), so that a capture has
// a start. make demo-pitr uses it on the demo's own server.
func EnableOplog(ctx context.Context, c *mongo.Client, db string) error {
	if err := createOplog(ctx, c); err != nil {
		return err
	}
	if _, err := c.Database(db).Collection("oplog_seed").InsertOne(ctx, bson.D{}); err != nil {
		return fmt.Errorf("first oplog entry: %w", err)
	}
	return nil
}
