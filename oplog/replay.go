package oplog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mongostash/mongostash/optime"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ReplayOptions says how a Replayer applies entries.
type ReplayOptions struct {
	// Target maps source namespaces to target ones, or leaves them out; nil: every
	// namespace under its own name. Server-internal namespaces are always left out.
	Target TargetFunc
	// Limit is a Before bound (exclusive, as optime.ParseBefore reads it and as
	// mongorestore's --oplogLimit): entries at or after it are not applied; zero: no limit.
	Limit optime.Timestamp
	// Indexes, when set, receives the index commands instead of the server: restore
	// builds every index once the replay is done, as mongorestore does, because a
	// unique index could refuse the intermediate states of a replay over a dump that
	// was read while it changed.
	Indexes *IndexCatalog
	// Known lists source namespaces that exist when the replay starts (the dumped ones),
	// so that a dropDatabase entry drops them too.
	Known []string
	// BatchOps and BatchBytes bound one namespace's batch of writes (defaults 1000 and
	// 4 MiB); PendingBytes bounds the writes waiting in all batches (default 8 MiB) and
	// CacheBytes the documents remembered to apply diffs (default 4 MiB).
	BatchOps, BatchBytes, PendingBytes, CacheBytes int
	// SpoolDir is where transactions larger than SpoolMemory go while they wait for
	// their commit ("" = the system's temporary directory).
	SpoolDir    string
	SpoolMemory int
	Logger      *slog.Logger
}

func (o ReplayOptions) withDefaults() ReplayOptions {
	if o.BatchOps <= 0 {
		o.BatchOps = 1000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 4 << 20
	}
	if o.PendingBytes <= 0 {
		o.PendingBytes = 8 << 20
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ReplayStats counts what a replay did.
type ReplayStats struct {
	Entries      int64 // top-level entries read
	Inserts      int64
	Updates      int64
	Deletes      int64
	Commands     int64
	Skipped      int64 // operations left out: no-ops, internal or excluded namespaces
	Transactions int64 // transactions committed
	Aborted      int64 // transactions aborted, or still open at the end (never committed)
	Fetches      int64 // documents read to apply $v:2 diffs
	Writes       int64 // write commands sent
	First, Last  optime.Timestamp
	LimitReached bool // an entry at or after Limit ended the replay
}

// Replayer applies oplog entries with plain CRUD commands and ordinary commands, never
// applyOps, so that it works on any server that speaks the protocol (FerretDB included).
// Every operation is idempotent: entries that overlap a dump read while the data
// changed apply cleanly. Writes are batched per namespace, in timestamp order; a
// namespace's batch is written before any command that touches it, so the result is the
// one of applying every entry one by one. A Replayer is for one goroutine.
type Replayer struct {
	client  *mongo.Client
	opts    ReplayOptions
	log     *slog.Logger
	batches map[string]*nsBatch // by target namespace
	targets map[string]resolved // by source namespace
	known   map[string]bool     // source namespaces that exist or were written
	txns    map[string]*openTxn
	indexes indexSink
	pending int // bytes held by all batches
	cached  int // bytes of documents remembered by all batches
	stats   ReplayStats
	done    bool

	limitKnown    bool // maxStatements was looked up
	maxStatements int  // statements per write command, 0: no limit (see statementLimit)
}

// NewReplayer returns a Replayer writing through client.
func NewReplayer(client *mongo.Client, opts ReplayOptions) *Replayer {
	opts = opts.withDefaults()
	r := &Replayer{client: client, opts: opts, log: opts.Logger,
		batches: map[string]*nsBatch{}, targets: map[string]resolved{}, known: map[string]bool{},
		txns: map[string]*openTxn{}}
	for _, ns := range opts.Known {
		r.known[ns] = true
	}
	if opts.Indexes != nil {
		r.indexes = opts.Indexes
	} else {
		r.indexes = liveIndexes{client: client}
	}
	return r
}

// Apply applies one oplog entry (or buffers it: writes are batched, transactions wait
// for their commit). Entries must come in timestamp order. raw may be reused by the
// caller once Apply returns.
func (r *Replayer) Apply(ctx context.Context, raw bson.Raw) error {
	if r.done {
		return nil
	}
	e, err := parseEntry(append(bson.Raw(nil), raw...))
	if err != nil {
		return err
	}
	if !r.opts.Limit.IsZero() && !e.TS.Before(r.opts.Limit) {
		r.done, r.stats.LimitReached = true, true
		return nil
	}
	if r.stats.Entries > 0 && e.TS.Before(r.stats.Last) {
		return entryError(&e, fmt.Errorf("%w: it comes after the entry at %s", ErrOrder, r.stats.Last.String()))
	}
	if r.stats.Entries == 0 {
		r.stats.First = e.TS
	}
	r.stats.Entries++
	r.stats.Last = e.TS
	return entryError(&e, r.dispatch(ctx, &e, 0))
}

// maxNesting bounds applyOps inside applyOps.
const maxNesting = 10

// dispatch applies one entry, top-level or taken out of an applyOps.
func (r *Replayer) dispatch(ctx context.Context, e *entry, depth int) error {
	if e.IsTransaction() {
		if depth > 0 {
			return fmt.Errorf("%w: transaction entry inside applyOps", ErrUnsupported)
		}
		return r.transaction(ctx, e)
	}
	switch e.Op {
	case "n":
		r.stats.Skipped++
		return nil
	case "i", "u", "d":
		return r.crud(ctx, e)
	case "c":
		return r.command(ctx, e, depth)
	case "cd", "ci", "cu", "km":
		// Bookkeeping of replicated record ids and key management: the target server
		// keeps its own (mongorestore skips them too).
		r.stats.Skipped++
		return nil
	}
	return fmt.Errorf("%w %q", ErrUnknownOp, e.Op)
}

// crud queues an insert, update or delete in its namespace's batch.
func (r *Replayer) crud(ctx context.Context, e *entry) error {
	if e.Op == "i" && isLegacyIndexNS(e.NS) {
		return r.legacyIndexInsert(ctx, e)
	}
	target, ok, err := r.resolve(ctx, e.NS)
	if err != nil || !ok {
		if !ok {
			r.stats.Skipped++
		}
		return err
	}
	var w *write
	switch e.Op {
	case "i":
		w, err = insertWrite(e)
		r.stats.Inserts++
	case "u":
		w, err = updateWrite(e)
		r.stats.Updates++
	default:
		w, err = deleteWrite(e)
		r.stats.Deletes++
	}
	if err != nil {
		return err
	}
	b := r.batch(target)
	b.writes = append(b.writes, w)
	b.bytes += w.size
	r.pending += w.size
	if len(b.writes) >= r.opts.BatchOps || b.bytes >= r.opts.BatchBytes {
		return r.flush(ctx, b)
	}
	if r.pending >= r.opts.PendingBytes {
		return r.flushAll(ctx)
	}
	return nil
}

// flushAll writes every pending batch.
func (r *Replayer) flushAll(ctx context.Context) error {
	for _, b := range r.batches {
		if err := r.flush(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// Close writes what is pending and ends the replay. Transactions still open (prepared or
// in progress, never committed within the entries) are left out, as they were not
// committed at the end of the range. Close does not build the indexes of ReplayOptions.Indexes.
func (r *Replayer) Close(ctx context.Context) (ReplayStats, error) {
	err := r.flushAll(ctx)
	for key, t := range r.txns {
		r.log.Info("transaction not committed within the oplog range: left out", "started", t.first.String())
		r.stats.Aborted++
		_ = t.spool.Close()
		delete(r.txns, key)
	}
	return r.stats, err
}
