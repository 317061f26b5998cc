package testenv

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Limits are what the test server silently does not keep, found by trying it on the
// server itself: FerretDB v1, FerretDB v2 and mongod differ. Tests branch on them with a
// message naming the limitation, rather than on the server's name or version, so a server
// that gains the feature is tested for it again.
type Limits struct {
	// IgnoresCapped: a collection created capped is listed without its capped options
	// (FerretDB v2).
	IgnoresCapped bool
	// KnowsAllTypes: the server takes queries naming every BSON type ($type: "minKey"),
	// so values of them can be stored and asked for. FerretDB v1 refuses the name, and
	// cannot store MinKey, MaxKey, NaN, decimals, symbols or code (values it drops the
	// connection on, and a query for NaN stops the server).
	KnowsAllTypes bool
	// Version is the server's buildInfo version (FerretDB reports a MongoDB version).
	Version string

	probeDB string // the scratch database the probe used
}

var (
	limitsMu sync.Mutex
	limits   = map[string]Limits{} // by server URL
)

// ServerLimits probes the test server at m.URL once per process, in a scratch database
// it drops again.
func ServerLimits(tb testing.TB, m *Mongo) Limits {
	tb.Helper()
	limitsMu.Lock()
	defer limitsMu.Unlock()
	if l, ok := limits[m.URL]; ok {
		return l
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var l Limits
	var info struct {
		Version string `bson:"version"`
	}
	if err := m.Client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		tb.Fatalf("testenv: buildInfo: %v", err)
	}
	l.Version = info.Version
	l.probeDB = UniqueName("probe")
	db := m.Client.Database(l.probeDB)
	defer func() { _ = db.Drop(context.WithoutCancel(ctx)) }()
	if err := db.CreateCollection(ctx, "capped", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<20)); err != nil {
		tb.Fatalf("testenv: probe capped collections: %v", err)
	}
	l.IgnoresCapped = !isCapped(ctx, tb, db, "capped")
	if _, err := db.Collection("capped").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		tb.Fatalf("testenv: probe types: %v", err)
	}
	err := db.Collection("capped").FindOne(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$type", Value: "minKey"}}}}).Err()
	l.KnowsAllTypes = err == nil || errors.Is(err, mongo.ErrNoDocuments)
	limits[m.URL] = l
	return l
}

func isCapped(ctx context.Context, tb testing.TB, db *mongo.Database, coll string) bool {
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: coll}})
	if err != nil || len(specs) != 1 {
		tb.Fatalf("testenv: list %s: %v (%d found)", coll, err, len(specs))
	}
	capped, _ := specs[0].Options.Lookup("capped").BooleanOK()
	return capped
}
