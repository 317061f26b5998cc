package testenv

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Mongo is a connected client and a database name no other test uses.
type Mongo struct {
	URL    string
	Client *mongo.Client
	DB     string
}

// NewMongo connects to the test MongoDB server and picks a fresh database name; the
// database is dropped and the client disconnected when the test ends.
func NewMongo(tb testing.TB) *Mongo {
	tb.Helper()
	return ConnectMongo(tb, MongoURL(tb))
}

// ConnectMongo is NewMongo on the server at url (a Private one, say).
func ConnectMongo(tb testing.TB, url string) *Mongo {
	tb.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(url).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		tb.Fatalf("testenv: connect to %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Ping(ctx, nil); err != nil {
		tb.Fatalf("testenv: ping %s: %v", url, err)
	}
	m := &Mongo{URL: url, Client: client, DB: UniqueName("t")}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = client.Database(m.DB).Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return m
}
