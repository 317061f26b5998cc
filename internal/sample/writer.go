package sample

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Writer changes documents of a few collections, one write at a time, while a test backs
// them up: replacements and inserts, $set/$unset and $inc updates, deletes; a unique index
// on "u" refuses some. It records every write that changed something with the document
// as it was right after. Once halted, it matches its writes, in order, with their oplog
// entries (it must be their only writer), so that the collections' state at any oplog
// timestamp is known exactly: what a backup consistent at that moment must restore.
type Writer struct {
	client  *mongo.Client
	db      string
	colls   []string
	mu      sync.Mutex
	changes []Change
	stop    chan struct{}
	done    chan error
}

// Change is one write of a Writer: the document afterwards (nil: deleted) and the
// timestamp of its oplog entry (set by Halt).
type Change struct {
	TS   bson.Timestamp
	Coll string
	ID   int32
	Doc  bson.Raw
}

// State is documents by collection and _id.
type State map[string]map[int32]bson.Raw

// PrepareWriterCollections creates colls in db with a unique index on "u" and 200
// documents each, and returns them.
func PrepareWriterCollections(ctx context.Context, client *mongo.Client, db string, colls ...string) (State, error) {
	st := State{}
	for _, c := range colls {
		coll := client.Database(db).Collection(c)
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "u", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
			return nil, err
		}
		st[c] = map[int32]bson.Raw{}
		for i := int32(0); i < 200; i++ {
			d, _ := bson.Marshal(bson.D{{Key: "_id", Value: i}, {Key: "u", Value: 1000 + i}, {Key: "n", Value: int32(0)}})
			if _, err := coll.InsertOne(ctx, bson.Raw(d)); err != nil {
				return nil, err
			}
			st[c][i] = d
		}
	}
	return st, nil
}

// StartWriter starts writing to colls of db, as fast as the server takes it.
func StartWriter(client *mongo.Client, db string, colls ...string) *Writer {
	return StartPacedWriter(client, db, 0, 0, colls...)
}

// StartPacedWriter starts writing to colls of db, pausing between two writes: a steady
// load that leaves the server time for the other work of a long test (the soak), and
// keeps the oplog from growing faster than it can be read. Writers one after another on
// the same collections take different runs (0, 1, …): each then writes values none of the
// others wrote, so that none of its writes is a no-op the oplog would not record.
func StartPacedWriter(client *mongo.Client, db string, run int, pause time.Duration, colls ...string) *Writer {
	w := &Writer{client: client, db: db, colls: colls, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		rng := rand.New(rand.NewPCG(3, 4+uint64(run)))
		for i := run * 1_000_000; ; i++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			case <-time.After(pause):
			}
			if err := w.step(rng, i); err != nil {
				w.done <- err
				return
			}
		}
	}()
	return w
}

func (w *Writer) step(rng *rand.Rand, i int) error {
	ctx := context.Background()
	name := w.colls[rng.IntN(len(w.colls))]
	c := w.client.Database(w.db).Collection(name)
	id := int32(rng.IntN(260))
	filter := bson.D{{Key: "_id", Value: id}}
	var r *mongo.UpdateResult
	var err error
	switch rng.IntN(6) {
	case 0, 1:
		r, err = c.ReplaceOne(ctx, filter, bson.D{{Key: "_id", Value: id}, {Key: "u", Value: int32(rng.IntN(400))},
			{Key: "n", Value: int32(i)}, {Key: "tags", Value: bson.A{"x", int64(i)}}}, options.Replace().SetUpsert(true))
	case 2:
		r, err = c.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "extra", Value: fmt.Sprint("e", i)}}},
			{Key: "$unset", Value: bson.D{{Key: "tags", Value: ""}}}})
	case 3:
		r, err = c.UpdateOne(ctx, filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int32(1)}}}})
	default:
		var dr *mongo.DeleteResult
		if dr, err = c.DeleteOne(ctx, filter); err == nil {
			r = &mongo.UpdateResult{MatchedCount: dr.DeletedCount}
		}
	}
	var we mongo.WriteException
	if (errors.As(err, &we) && we.HasErrorCode(11000)) || (err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")) {
		return nil // the unique index refused it (FerretDB v1 says so as an InternalError): nothing happened
	}
	if err != nil || (r.MatchedCount == 0 && r.UpsertedCount == 0) {
		return err
	}
	var doc bson.Raw
	err = c.FindOne(ctx, filter).Decode(&doc)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	w.mu.Lock()
	w.changes = append(w.changes, Change{Coll: name, ID: id, Doc: doc})
	w.mu.Unlock()
	return nil
}

// Changes is how many changes the writer made so far.
func (w *Writer) Changes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.changes)
}

// WaitChanges waits until the writer made n more changes.
func (w *Writer) WaitChanges(n int) error {
	target := w.Changes() + n
	for deadline := time.Now().Add(2 * time.Minute); w.Changes() < target; {
		select {
		case err := <-w.done:
			return fmt.Errorf("writer stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("writer stalled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// Halt stops the writer and matches its changes with the oplog entries of its
// collections after the timestamp after, in order, checking that each is about the
// document of its change.
func (w *Writer) Halt(ctx context.Context, after bson.Timestamp) error {
	close(w.stop)
	if err := <-w.done; err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	var nss bson.A
	for _, c := range w.colls {
		nss = append(nss, w.db+"."+c)
	}
	cur, err := w.client.Database("local").Collection("oplog.rs").Find(ctx,
		bson.D{{Key: "ns", Value: bson.D{{Key: "$in", Value: nss}}}, {Key: "ts", Value: bson.D{{Key: "$gt", Value: after}}}},
		options.Find().SetSort(bson.D{{Key: "ts", Value: 1}}))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	i := 0
	for ; cur.Next(ctx); i++ {
		e := cur.Current
		id, ok := e.Lookup("o2", "_id").Int32OK()
		if !ok {
			id = e.Lookup("o", "_id").Int32()
		}
		if i >= len(w.changes) || w.db+"."+w.changes[i].Coll != e.Lookup("ns").StringValue() || w.changes[i].ID != id {
			return fmt.Errorf("oplog entry %d (%s) does not match the writer's change %d", i, e, i)
		}
		t, inc, _ := e.Lookup("ts").TimestampOK()
		w.changes[i].TS = bson.Timestamp{T: t, I: inc}
	}
	if i != len(w.changes) {
		return fmt.Errorf("%d oplog entries for %d changes", i, len(w.changes))
	}
	return cur.Err()
}

// StateAt applies the changes up to ts (included) to initial and counts them.
func (w *Writer) StateAt(initial State, ts bson.Timestamp) (State, int) {
	out := State{}
	for c, docs := range initial {
		out[c] = map[int32]bson.Raw{}
		for k, d := range docs {
			out[c][k] = d
		}
	}
	n := 0
	for _, ch := range w.changes {
		if ch.TS.T > ts.T || (ch.TS.T == ts.T && ch.TS.I > ts.I) {
			continue
		}
		n++
		if ch.Doc == nil {
			delete(out[ch.Coll], ch.ID)
		} else {
			out[ch.Coll][ch.ID] = ch.Doc
		}
	}
	return out, n
}

// Final is the state after every change.
func (w *Writer) Final(initial State) State {
	st, _ := w.StateAt(initial, bson.Timestamp{T: 1<<32 - 1, I: 1<<32 - 1})
	return st
}
