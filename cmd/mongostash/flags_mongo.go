package main

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/mongostash/mongostash/internal/connstr"
)

// MongoFlags connect to MongoDB. The seed's variables (MONGO_URL, MONGO_DATABASE) work unchanged.
type MongoFlags struct {
	MongoURL      string        `name:"mongo-url" env:"MONGO_URL" help:"MongoDB connection string (mongodb:// or mongodb+srv://). Also MONGO_URL_FILE."`
	Database      string        `name:"mongo-database" env:"MONGO_DATABASE" help:"Database to back up or restore; empty means every database but local (and config)."`
	ServerTimeout time.Duration `name:"mongo-timeout" env:"MONGO_TIMEOUT" default:"30s" range:"1s..1h" help:"How long to wait for a reachable MongoDB server, and for each of its heartbeats: a server that misses two is given up, its operations interrupted. Long operations of a live server are never cut."`
}

// connect opens a client and checks that the server answers, so a wrong host or wrong
// credentials fail here with a clear message rather than midway.
func (f *MongoFlags) connect(ctx context.Context, a *app) (*mongo.Client, error) {
	if err := f.check(a); err != nil {
		return nil, err
	}
	// The connect timeout also bounds each heartbeat of the driver's monitor; after two
	// missed heartbeats it interrupts the operations in flight on that server. That, not a
	// deadline per operation, is what bounds a server that accepts and never answers,
	// without cutting an index build or a big batch on a server that is alive.
	opts := options.Client().ApplyURI(f.MongoURL).SetServerSelectionTimeout(f.ServerTimeout).SetAppName("mongostash")
	if opts.ConnectTimeout == nil { // connectTimeoutMS in the URI wins
		opts.SetConnectTimeout(f.ServerTimeout)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, usagef("MONGO_URL %s: %v", connstr.Redact(f.MongoURL), err)
	}
	pctx, cancel := context.WithTimeout(ctx, f.ServerTimeout+5*time.Second)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, connectError(connstr.Hosts(f.MongoURL), err, f.ServerTimeout)
	}
	return client, nil
}

// writeConcern is the write concern MONGO_URL asks for (w, journal), nil when it names
// none: restore sends it with its inserts, as the driver's insert helpers would.
func (f *MongoFlags) writeConcern() *writeconcern.WriteConcern {
	return options.Client().ApplyURI(f.MongoURL).WriteConcern
}

// check reads MONGO_URL (or its _FILE), insists on it, and marks its password secret.
func (f *MongoFlags) check(a *app) error {
	if err := resolveFile(a, &f.MongoURL, "MONGO_URL"); err != nil {
		return err
	}
	if f.MongoURL == "" {
		return usagef("no MongoDB server given: set MONGO_URL or --mongo-url (e.g. mongodb://user:password@host:27017)")
	}
	a.secrets.RegisterURI(f.MongoURL)
	return nil
}
