package soak

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/internal/sample"
)

// The source database: collections the writers change (every change known), and a
// ballast collection written once, large and incompressible, so that every backup is a
// multipart upload (S3_PART_SIZE 5 MiB) that a kill can leave unfinished.
const (
	sourceDB      = "soak"
	ballastColl   = "ballast"
	ballastDocs   = 26
	ballastBytes  = 256 << 10 // per document: 6.5 MiB in all
	writerPause   = 50 * time.Millisecond
	loopTargetDB  = "soak_restored" // the loop's restores (--drop, into the same target each time)
	checkTargetDB = "soak_check"    // the final checks' restores
)

var writerColls = []string{"a", "b", "c"}

// writerRun is one writer of the chain: the writers run one after another (each halted
// before MongoDB is killed), so the database at any timestamp is the initial state with
// each run's changes up to it applied in turn.
type writerRun struct {
	w      *sample.Writer
	after  bson.Timestamp // the newest oplog entry when it started
	halted bool
}

// state is what the source's writer collections held at ts.
func (s *soak) stateAt(ts bson.Timestamp) sample.State {
	st := s.initial
	for _, r := range s.writers {
		st, _ = r.w.StateAt(st, ts)
	}
	return st
}

// startWriter starts the next writer of the chain.
func (s *soak) startWriter() {
	if s.writing() {
		return
	}
	after := s.newestOplogTS()
	w := sample.StartPacedWriter(s.client, sourceDB, len(s.writers), writerPause, writerColls...)
	s.writers = append(s.writers, &writerRun{w: w, after: after})
}

func (s *soak) writing() bool {
	return len(s.writers) > 0 && !s.writers[len(s.writers)-1].halted
}

// haltWriter stops the running writer and learns the timestamps of its changes.
func (s *soak) haltWriter() {
	if !s.writing() {
		return
	}
	r := s.writers[len(s.writers)-1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := r.w.Halt(ctx, r.after); err != nil {
		s.t.Fatalf("cycle %d: the writer's changes do not match the oplog: %v", s.cycle, err)
	}
	r.halted = true
	s.changes += r.w.Changes()
}

// newestOplogTS is the timestamp of the newest oplog entry.
func (s *soak) newestOplogTS() bson.Timestamp {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var e struct {
		TS bson.Timestamp `bson:"ts"`
	}
	err := s.client.Database("local").Collection("oplog.rs").FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "ts", Value: -1}})).Decode(&e)
	if err != nil {
		s.t.Fatalf("read the newest oplog entry: %v", err)
	}
	return e.TS
}

// loadBallast writes the ballast collection and returns its digest.
func loadBallast(ctx context.Context, client *mongo.Client) (string, error) {
	c := client.Database(sourceDB).Collection(ballastColl)
	for i := 0; i < ballastDocs; i++ {
		b := make([]byte, ballastBytes)
		_, _ = rand.Read(b)
		if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(i)}, {Key: "bytes", Value: bson.Binary{Data: b}}}); err != nil {
			return "", err
		}
	}
	return collectionDigest(ctx, client, sourceDB, ballastColl)
}

// collectionDigest is a SHA-256 over the documents of a collection in _id order.
func collectionDigest(ctx context.Context, client *mongo.Client, db, coll string) (string, error) {
	cur, err := client.Database(db).Collection(coll).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return "", err
	}
	defer cur.Close(ctx)
	h := sha256.New()
	n := 0
	for cur.Next(ctx) {
		h.Write(cur.Current)
		n++
	}
	return fmt.Sprintf("%d:%x", n, h.Sum(nil)[:8]), cur.Err()
}

// readState reads the writer collections of db.
func readState(ctx context.Context, client *mongo.Client, db string) (sample.State, error) {
	st := sample.State{}
	for _, c := range writerColls {
		st[c] = map[int32]bson.Raw{}
		cur, err := client.Database(db).Collection(c).Find(ctx, bson.D{})
		if err != nil {
			return nil, err
		}
		for cur.Next(ctx) {
			id, _ := cur.Current.Lookup("_id").Int32OK()
			st[c][id] = append(bson.Raw(nil), cur.Current...)
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// diffStates describes how got differs from want, "" when equal.
func diffStates(got, want sample.State) string {
	var out []string
	for _, c := range writerColls {
		var ids []int
		for id := range want[c] {
			ids = append(ids, int(id))
		}
		for id := range got[c] {
			if _, ok := want[c][id]; !ok {
				ids = append(ids, int(id))
			}
		}
		sort.Ints(ids)
		for _, id := range ids {
			g, w := got[c][int32(id)], want[c][int32(id)]
			if !bytes.Equal(g, w) {
				out = append(out, fmt.Sprintf("%s _id %d: got %v, want %v", c, id, g, w))
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("… %d differences in all", len(out)))
	}
	return fmt.Sprint(out)
}
