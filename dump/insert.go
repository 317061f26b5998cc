package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// insertAttempts is how often one batch is sent when its answer is lost to a network error
// or a change of primary. The driver retries its own writes only on replica sets and only
// with its insert helper, whose re-encoding of every document restore avoids.
const insertAttempts = 3

// retryableCodes are server errors after which a write may be sent again: the server was
// shutting down, stepping down or unreachable (the codes of the retryable-writes spec).
var retryableCodes = []int{6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}

// insert writes one batch unordered and counts the documents the server refused.
func (rs *restorer) insert(ctx context.Context, db *mongo.Database, st *nsState, b *batch) error {
	// One of the restore's Workers slots, shared by every namespace: a server that writes one
	// batch at a time (FerretDB v1's SQLite) only loses to more at once, and one collection
	// can still have them all.
	if rs.slots.Acquire(ctx, 1) != nil {
		return nil // stopping: the batch is not sent; Restore reports why
	}
	defer rs.slots.Release(1)
	wctx, cancel := writeContext(ctx)
	defer cancel()
	if n := rs.sending.Add(1); n > rs.peakSending.Load() {
		rs.peakSending.Store(n) // racy maximum: close enough for a statistic
	}
	if hook := rs.opts.insertHook; hook != nil {
		hook()
	}
	resent, err := rs.send(wctx, db, st, b)
	rs.sending.Add(-1)
	n := int64(b.len())
	if err == nil {
		st.inserted.Add(n)
		st.progress.add(n, b.docBytes)
		return nil
	}
	var we mongo.WriteException
	if !errors.As(err, &we) || we.WriteConcernError != nil || len(we.WriteErrors) == 0 {
		st.unsure.Add(n) // without the server's answer the batch may have gone in: say so
		return fmt.Errorf("restore %s: insert: %w", st.t.namespace(), err)
	}
	refused := we.WriteErrors
	if resent {
		if refused, err = storedBefore(wctx, db.Collection(st.dataColl), b, refused); err != nil {
			return fmt.Errorf("restore %s: after sending a batch again: %w", st.t.namespace(), err)
		}
		if k := len(we.WriteErrors) - len(refused); k > 0 {
			rs.log.Info("a batch sent again found documents its first sending had stored", "namespace", st.t.namespace(), "documents", k)
		}
	}
	failed := int64(len(refused))
	st.failed.Add(failed)
	st.inserted.Add(n - failed)
	st.progress.add(n, b.docBytes)
	if failed == 0 {
		return nil
	}
	for _, e := range refused {
		if e.Code == 11000 {
			rs.duplicates.Add(1)
		}
	}
	rs.mu.Lock()
	for _, e := range refused {
		if len(rs.errs) >= rs.opts.MaxErrors {
			break
		}
		rs.errs = append(rs.errs, fmt.Sprintf("%s: document %d of a batch: %s (code %d)", st.t.namespace(), e.Index, e.Message, e.Code))
	}
	rs.mu.Unlock()
	if rs.opts.StopOnError {
		return fmt.Errorf("restore %s: %d documents refused, stopping at the first refusal as asked: %s", st.t.namespace(), failed, refused[0].Message)
	}
	return nil
}

// send runs the batch's insert command, again after an error that says the server may
// not have got it, and reports whether it was sent more than once.
func (rs *restorer) send(ctx context.Context, db *mongo.Database, st *nsState, b *batch) (resent bool, err error) {
	for attempt := 1; ; attempt++ {
		err = db.RunCommand(ctx, bson.Raw(b.cmd)).Err()
		if err == nil || attempt == insertAttempts || !retryableWrite(err) {
			return attempt > 1, err
		}
		rs.log.Warn("insert failed, sending the batch again", "namespace", st.t.namespace(), "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return attempt > 1, err
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		}
	}
}

// retryableWrite says whether err means the server may not have got or answered the
// write: a network error, a connection pool cleared after one, or a server that was
// stepping down or shutting down.
func retryableWrite(err error) bool {
	if mongo.IsNetworkError(err) {
		return true
	}
	var pool interface{ Retryable() bool } // the driver's error for a pool cleared by another failure
	if errors.As(err, &pool) && pool.Retryable() {
		return true
	}
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	if se.HasErrorLabel("RetryableWriteError") {
		return true
	}
	for _, c := range retryableCodes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}

// storedBefore drops from refused the duplicate-key errors of documents that an earlier
// sending of the same batch stored: the collection holds a byte-identical document under
// that _id. Any other duplicate stays refused. One query fetches them all.
func storedBefore(ctx context.Context, coll *mongo.Collection, b *batch, refused []mongo.WriteError) ([]mongo.WriteError, error) {
	ids := bson.A{}
	for _, e := range refused {
		if e.Code == 11000 && e.Index >= 0 && e.Index < b.len() {
			if id, err := b.doc(e.Index).LookupErr("_id"); err == nil {
				ids = append(ids, id)
			}
		}
	}
	stored := map[string]bson.Raw{} // by the _id value's bytes
	if len(ids) > 0 {
		cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err != nil {
			return nil, fmt.Errorf("look up the documents reported as duplicates: %w", err)
		}
		for cur.Next(ctx) {
			stored[idKey(cur.Current.Lookup("_id"))] = append(bson.Raw(nil), cur.Current...)
		}
		if err := cur.Close(ctx); err != nil || cur.Err() != nil {
			return nil, fmt.Errorf("look up the documents reported as duplicates: %w", errors.Join(cur.Err(), err))
		}
	}
	var still []mongo.WriteError
	for _, e := range refused {
		if e.Code == 11000 && e.Index >= 0 && e.Index < b.len() {
			doc := b.doc(e.Index)
			if bytes.Equal(stored[idKey(doc.Lookup("_id"))], doc) {
				continue
			}
		}
		still = append(still, e)
	}
	return still, nil
}

// idKey identifies an _id value by its type and bytes.
func idKey(v bson.RawValue) string { return string(rune(v.Type)) + string(v.Value) }
