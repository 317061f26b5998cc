package oplog

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// nsBatch is the pending writes of one target namespace, and what the replay knows of
// its documents: a $v:2 diff needs the current document, which is either remembered from
// an earlier write of the replay or read from the server (after the batch's earlier
// writes are in).
type nsBatch struct {
	target string
	coll   *mongo.Collection
	writes []*write
	bytes  int
	known  map[string]bson.Raw // document by idKey; nil value: known not to exist
	kbytes int
}

func (r *Replayer) batch(target string) *nsBatch {
	if b := r.batches[target]; b != nil {
		return b
	}
	db, coll := splitNS(target)
	b := &nsBatch{target: target, coll: r.client.Database(db).Collection(coll), known: map[string]bson.Raw{}}
	r.batches[target] = b
	return b
}

// forgetAll drops what the batch remembers of its documents (a command changed them).
func (r *Replayer) forgetAll(b *nsBatch) {
	r.cached -= b.kbytes
	b.known, b.kbytes = map[string]bson.Raw{}, 0
}

func (r *Replayer) remember(b *nsBatch, key string, doc bson.Raw) {
	if r.cached+len(doc) > r.opts.CacheBytes {
		// Full: start over rather than grow. Documents the replay no longer knows are
		// read again if a diff needs them.
		for _, other := range r.batches {
			r.forgetAll(other)
		}
	}
	if old, ok := b.known[key]; ok {
		b.kbytes -= len(old) + len(key)
		r.cached -= len(old) + len(key)
	}
	b.known[key] = doc
	b.kbytes += len(doc) + len(key)
	r.cached += len(doc) + len(key)
}

func (r *Replayer) forget(b *nsBatch, key string) {
	if old, ok := b.known[key]; ok {
		b.kbytes -= len(old) + len(key)
		r.cached -= len(old) + len(key)
		delete(b.known, key)
	}
}

// flush writes the batch: diffs are turned into replacements of the documents they
// change, then every write goes to the server in order.
func (r *Replayer) flush(ctx context.Context, b *nsBatch) error {
	if len(b.writes) == 0 {
		return nil
	}
	writes := b.writes
	b.writes, r.pending, b.bytes = nil, r.pending-b.bytes, 0
	if err := r.prefetch(ctx, b, writes); err != nil {
		return err
	}
	var ready []*write
	for _, w := range writes {
		cur, known := b.known[w.key]
		if w.kind == wDiff && !known {
			// An update without a diff earlier in this batch changed the document: write
			// what comes before, then read it.
			if err := r.execute(ctx, b, ready); err != nil {
				return err
			}
			ready = nil
			if err := r.fetch(ctx, b, []*write{w}); err != nil {
				return err
			}
			cur, known = b.known[w.key]
		}
		keep, err := r.simulate(b, w, cur, known)
		if err != nil {
			return err
		}
		if keep != nil {
			ready = append(ready, keep)
		}
	}
	return r.execute(ctx, b, ready)
}

// simulate follows a write on what the replay knows of its document (cur, when known;
// nil: known not to exist) and returns the write to send: nil when it changes nothing
// (an update of a missing document), a replacement for a diff.
func (r *Replayer) simulate(b *nsBatch, w *write, cur bson.Raw, known bool) (*write, error) {
	missing := known && cur == nil
	switch w.kind {
	case wInsert:
		r.remember(b, w.key, w.doc)
	case wDelete:
		r.remember(b, w.key, nil)
	case wReplace:
		if missing {
			return nil, nil
		}
		if known {
			r.remember(b, w.key, w.doc)
		}
	case wUpdate:
		if missing {
			return nil, nil
		}
		if !known || w.diff == nil {
			r.forget(b, w.key) // what $v:1 operators make of it is the server's business
			return w, nil
		}
		doc, err := applyDiff(cur, w.diff)
		if err != nil {
			return nil, w.fail(b, err)
		}
		r.remember(b, w.key, doc)
	case wDiff:
		if missing {
			return nil, nil
		}
		doc, err := applyDiff(cur, w.diff)
		if err != nil {
			return nil, w.fail(b, err)
		}
		r.remember(b, w.key, doc)
		return &write{kind: wReplace, key: w.key, id: w.id, doc: doc, ts: w.ts}, nil
	}
	return w, nil
}

// fail names the write's entry in err.
func (w *write) fail(b *nsBatch, err error) error {
	return &entryErr{about: fmt.Sprintf("oplog entry at %s (on %s)", w.ts.String(), b.target), Err: err}
}

// prefetch reads, in one query, the documents the replay does not know yet and that the
// batch changes with a diff (a diff needs the current document; so do the writes before
// it, for the replay to follow the document to the diff).
func (r *Replayer) prefetch(ctx context.Context, b *nsBatch, writes []*write) error {
	queued := map[string]bool{}
	var need []*write
	for _, w := range writes {
		if w.kind != wDiff || queued[w.key] {
			continue
		}
		if _, ok := b.known[w.key]; !ok {
			queued[w.key] = true
			need = append(need, w)
		}
	}
	return r.fetch(ctx, b, need)
}

// fetch reads the current documents of writes, remembering missing ones as missing.
func (r *Replayer) fetch(ctx context.Context, b *nsBatch, writes []*write) error {
	if len(writes) == 0 {
		return nil
	}
	ids := make(bson.A, 0, len(writes))
	for _, w := range writes {
		ids = append(ids, w.id)
		r.remember(b, w.key, nil)
	}
	cur, err := b.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetBatchSize(int32(len(ids))))
	if err != nil {
		return fmt.Errorf("oplog replay: read %d documents of %s to apply updates: %w", len(ids), b.target, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		id, err := cur.Current.LookupErr("_id")
		if err != nil {
			continue
		}
		r.remember(b, idKey(id), append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("oplog replay: read documents of %s to apply updates: %w", b.target, err)
	}
	r.stats.Fetches += int64(len(ids))
	return nil
}
