package oplog

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/internal/testenv"
)

// TestSourceWhole: a new oplog, far from full, never dropped an entry; one filled past half
// its maximum size may have, and Whole says so with the figures it measured.
func TestSourceWhole(t *testing.T) {
	m := testenv.NewMongoWithOplog(t) // 1 GiB, one entry
	src, err := OpenSource(ctxT(t), m.Client)
	if err != nil {
		t.Fatal(err)
	}
	whole, why, err := src.Whole(ctxT(t))
	if err != nil || !whole || !strings.Contains(why, "never dropped") {
		t.Fatalf("a new oplog: whole %v (%s) %v", whole, why, err)
	}

	_, url := testenv.PrivateFerretDB(t)
	small := testenv.ConnectMongo(t, url)
	const size = 256 << 10
	if err := small.Client.Database("local").RunCommand(ctxT(t), bson.D{{Key: "create", Value: "oplog.rs"},
		{Key: "capped", Value: true}, {Key: "size", Value: int64(size)}}).Err(); err != nil {
		t.Fatal(err)
	}
	src, err = OpenSource(ctxT(t), small.Client)
	if err != nil {
		t.Fatal(err)
	}
	c := small.Client.Database(small.DB).Collection("c")
	for i := 0; ; i++ {
		if _, err := c.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: strings.Repeat("x", 2000)}}); err != nil {
			t.Fatal(err)
		}
		whole, why, err = src.Whole(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if !whole {
			if !strings.Contains(why, "% full") || !strings.Contains(why, "may have dropped") {
				t.Errorf("why: %q", why)
			}
			return
		}
		if i > 1000 {
			t.Fatalf("still whole after %d entries of 2 KB in a %d-byte oplog: %s", i, size, why)
		}
	}
}
