package oplog

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// minInsertRun is the shortest run of inserts sent as an insert command of its own;
// shorter runs ride along in the ordered bulk write of their neighbours.
const minInsertRun = 8

// execute sends writes to the server in order. A run of inserts of distinct documents
// goes as one unordered insert (the fastest write a server has); the documents that
// already exist (the dump holds them) are then replaced, which is what a replace-upsert
// would have done. Everything else goes as ordered bulk writes.
func (r *Replayer) execute(ctx context.Context, b *nsBatch, writes []*write) error {
	// runs[i]: how many inserts follow from i on, i included.
	runs := make([]int, len(writes)+1)
	for i := len(writes) - 1; i >= 0; i-- {
		if writes[i].kind == wInsert {
			runs[i] = runs[i+1] + 1
		}
	}
	for i := 0; i < len(writes); {
		if runs[i] >= minInsertRun {
			if n := distinctRun(writes[i : i+runs[i]]); n >= minInsertRun {
				if err := r.insertMany(ctx, b, writes[i:i+n]); err != nil {
					return err
				}
				i += n
				continue
			}
		}
		j := i + 1
		for j < len(writes) && runs[j] < minInsertRun {
			j++
		}
		if err := r.bulk(ctx, b, writes[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// distinctRun is the length of the leading run of writes with distinct _ids.
func distinctRun(writes []*write) int {
	seen := make(map[string]bool, len(writes))
	for i, w := range writes {
		if seen[w.key] {
			return i
		}
		seen[w.key] = true
	}
	return len(writes)
}

func (r *Replayer) insertMany(ctx context.Context, b *nsBatch, writes []*write) error {
	docs := make([]bson.Raw, len(writes))
	for i, w := range writes {
		docs[i] = w.doc
	}
	r.stats.Writes++
	_, err := b.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false).SetBypassDocumentValidation(true))
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return r.batchError(b, writes, err)
	}
	var again []*write
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 || we.Index < 0 || we.Index >= len(writes) {
			return writes[min(max(we.Index, 0), len(writes)-1)].fail(b, fmt.Errorf("insert: %w", err))
		}
		again = append(again, writes[we.Index])
	}
	return r.bulk(ctx, b, again)
}

// bulk sends writes as one ordered bulk write.
func (r *Replayer) bulk(ctx context.Context, b *nsBatch, writes []*write) error {
	models := make([]mongo.WriteModel, 0, len(writes)+1)
	at := make([]int, 0, len(writes)+1) // write of each model
	for i, w := range writes {
		filter := bson.D{{Key: "_id", Value: w.id}}
		switch w.kind {
		case wInsert, wReplace:
			models = append(models, mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(w.doc).SetUpsert(w.kind == wInsert))
			at = append(at, i)
		case wUpdate:
			for _, u := range w.update {
				models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(u))
				at = append(at, i)
			}
		case wDelete:
			models = append(models, mongo.NewDeleteOneModel().SetFilter(filter))
			at = append(at, i)
		}
	}
	step := len(models)
	if n := r.statementLimit(ctx); n > 0 {
		step = n
	}
	for from := 0; from < len(models); from += step {
		to := min(from+step, len(models))
		r.stats.Writes++
		_, err := b.coll.BulkWrite(ctx, models[from:to], options.BulkWrite().SetOrdered(true).SetBypassDocumentValidation(true))
		if err == nil {
			continue
		}
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			if idx := from + bwe.WriteErrors[0].Index; idx >= from && idx < to {
				return writes[at[idx]].fail(b, err)
			}
		}
		return r.batchError(b, writes[at[from]:at[to-1]+1], err)
	}
	return nil
}

// ferretDBStatements is how many update statements one command may carry on FerretDB:
// v1 holds a database connection per statement until the command ends, from a pool of
// 100, and waits forever for the 101st. (Its embedded builds report their version as
// "unknown", so every FerretDB gets the limit.)
const ferretDBStatements = 50

// statementLimit is the number of statements per write command this server takes (0:
// no limit beyond the protocol's), found once with buildInfo.
func (r *Replayer) statementLimit(ctx context.Context) int {
	if r.limitKnown {
		return r.maxStatements
	}
	r.limitKnown = true
	var info bson.Raw
	if err := r.client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err == nil {
		if _, err := info.LookupErr("ferretdbVersion"); err == nil {
			r.maxStatements = ferretDBStatements
		}
	}
	return r.maxStatements
}

// batchError names the range of entries a failed write command carried.
func (r *Replayer) batchError(b *nsBatch, writes []*write, err error) error {
	return fmt.Errorf("oplog replay: write the entries from %s to %s on %s: %w",
		writes[0].ts.String(), writes[len(writes)-1].ts.String(), b.target, err)
}
