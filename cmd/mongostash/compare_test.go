package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// snapshot is what a database holds, as raw bytes: per collection its documents in _id
// order, its options and its index specs. Two equal snapshots mean a byte-identical restore.
type snapshot map[string]collSnapshot

type collSnapshot struct {
	docs    []bson.Raw
	options bson.Raw
	indexes []bson.Raw
}

func takeSnapshot(t *testing.T, client *mongo.Client, db string) snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := client.Database(db)
	cur, err := d.ListCollections(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot{}
	for cur.Next(ctx) {
		name := cur.Current.Lookup("name").StringValue()
		opts, _ := cur.Current.Lookup("options").DocumentOK()
		snap[name] = collSnapshot{options: append(bson.Raw(nil), opts...)}
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	for name, cs := range snap {
		c := d.Collection(name)
		dc, err := c.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		for dc.Next(ctx) {
			cs.docs = append(cs.docs, append(bson.Raw(nil), dc.Current...))
		}
		if err := dc.Err(); err != nil {
			t.Fatal(err)
		}
		ic, err := c.Indexes().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for ic.Next(ctx) {
			cs.indexes = append(cs.indexes, withoutNS(ic.Current))
		}
		snap[name] = cs
	}
	return snap
}

// withoutNS drops the `ns` field some servers add to index specs: it names the database.
func withoutNS(spec bson.Raw) bson.Raw {
	elems, _ := spec.Elements()
	var d bson.D
	for _, e := range elems {
		if e.Key() != "ns" {
			d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	b, _ := bson.Marshal(d)
	return b
}

func compareSnapshots(t *testing.T, got, want snapshot) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d collections %v, want %d %v", len(got), keys(got), len(want), keys(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("collection %s missing", name)
			continue
		}
		if len(g.docs) != len(w.docs) {
			t.Errorf("%s: got %d documents, want %d", name, len(g.docs), len(w.docs))
			continue
		}
		for i := range w.docs {
			if !bytes.Equal(g.docs[i], w.docs[i]) {
				t.Errorf("%s: document %d differs:\ngot  %s\nwant %s", name, i, g.docs[i], w.docs[i])
				break
			}
		}
		if !bytes.Equal(g.options, w.options) {
			t.Errorf("%s: options got %s, want %s", name, g.options, w.options)
		}
		if len(g.indexes) != len(w.indexes) {
			t.Errorf("%s: got %d indexes %v, want %d %v", name, len(g.indexes), g.indexes, len(w.indexes), w.indexes)
			continue
		}
		for i := range w.indexes {
			if !bytes.Equal(g.indexes[i], w.indexes[i]) {
				t.Errorf("%s: index %d got %s, want %s", name, i, g.indexes[i], w.indexes[i])
			}
		}
	}
}

func keys(s snapshot) []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	return out
}
