package oplog

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/mongostash/mongostash/optime"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrTransaction: the entries of a transaction do not form a complete chain.
var ErrTransaction = errors.New("oplog: incomplete transaction")

// Transactions in the oplog (MongoDB 4.0 and later): the operations of a transaction are
// in applyOps entries carrying the session (lsid) and transaction number. A small
// transaction is one applyOps entry, applied as it comes. A large one is a chain of
// applyOps entries with partialTxn: true, each naming the previous one in prevOpTime, and
// a last entry without it (which commits). A prepared transaction's chain ends with
// prepare: true; a later commitTransaction or abortTransaction entry decides it. The
// replay keeps a transaction's entries (in a spool: memory, then disk) until its commit,
// and discards them on an abort.

// openTxn is a transaction whose commit the replay has not seen yet.
type openTxn struct {
	spool *spool
	first optime.Timestamp // its first entry
	last  optime.Timestamp // its latest entry, which the next must name in prevOpTime
}

func txnKey(e *entry) string {
	return string(e.LSID) + "#" + strconv.FormatInt(e.TxnNumber, 10)
}

func (r *Replayer) transaction(ctx context.Context, e *entry) error {
	key := txnKey(e)
	t := r.txns[key]
	if t == nil && e.Command() == "abortTransaction" {
		r.stats.Aborted++ // nothing of it was applied: nothing to undo
		return nil
	}
	decision := e.Command() != "applyOps"
	switch {
	case t == nil && e.HasPrev && !e.PrevTS.IsZero():
		return fmt.Errorf("%w: the transaction's earlier entries (from %s on) are not in the replayed range; it started before the range", ErrTransaction, e.PrevTS.String())
	case t != nil && !e.HasPrev:
		return fmt.Errorf("%w: the entry has no prevOpTime, but the transaction has earlier entries (from %s on)", ErrTransaction, t.first.String())
	case t != nil && e.PrevTS != t.last && !(decision && e.PrevTS == t.first):
		// A commit or abort may name the first entry of the chain (mongo-tools' test
		// entries of large prepared transactions do) or the last one.
		return fmt.Errorf("%w: the entry names %s as the transaction's previous entry, but that was %s", ErrTransaction, e.PrevTS.String(), t.last.String())
	}
	if t == nil {
		t = &openTxn{spool: newSpool(r.opts.SpoolDir, r.opts.SpoolMemory), first: e.TS}
		r.txns[key] = t
	}
	t.last = e.TS
	switch e.Command() {
	case "commitTransaction":
		return r.commit(ctx, key, t)
	case "abortTransaction":
		r.stats.Aborted++
		delete(r.txns, key)
		return t.spool.Close()
	}
	if err := t.spool.Add(e.Raw); err != nil {
		return err
	}
	partial, _ := e.O.Lookup("partialTxn").BooleanOK()
	prepare, _ := e.O.Lookup("prepare").BooleanOK()
	if partial || prepare {
		return nil // wait for the rest, or for the decision
	}
	return r.commit(ctx, key, t)
}

// commit applies the operations of every entry of the transaction, in order.
func (r *Replayer) commit(ctx context.Context, key string, t *openTxn) error {
	delete(r.txns, key)
	defer t.spool.Close()
	r.stats.Transactions++
	return t.spool.Each(func(doc bson.Raw) error {
		e, err := parseEntry(append(bson.Raw(nil), doc...))
		if err != nil {
			return err
		}
		return eachInnerOp(&e, func(inner *entry) error {
			return r.dispatch(ctx, inner, 1)
		})
	})
}
