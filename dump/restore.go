package dump

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"golang.org/x/sync/semaphore"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
)

// RestoreOptions says what Restore writes and how.
type RestoreOptions struct {
	Filter        NamespaceFilter            // nil: every namespace (matched against the source namespace)
	Renamer       *ns.Renamer                // nil: restore under the source names
	Drop          bool                       // replace existing collections — only once the whole archive proved good
	DryRun        bool                       // decode and verify everything, write nothing (client may be nil)
	NoIndex       bool                       // skip createIndexes
	Bypass        bool                       // bypassDocumentValidation on inserts
	StopOnError   bool                       // stop at the first refused document
	OplogReplay   bool                       // apply the archive's oplog entries after the collections
	OplogRequired bool                       // with OplogReplay: an archive without an oplog is an error
	OplogLimit    optime.Timestamp           // a Before bound (exclusive): apply only the entries before it (zero: all)
	UsersAndRoles bool                       // merge the archive's users and roles (_mergeAuthzCollections)
	PreserveUUID  bool                       // create collections with the archive's UUIDs (applyOps; needs Drop)
	BatchDocs     int                        // documents per insert; default 1000
	BatchBytes    int                        // bytes per insert command; default 2 MiB, at most 16 MiB
	Workers       int                        // inserts in flight at once, shared by all namespaces (one can have them all); default 4
	WriteConcern  *writeconcern.WriteConcern // of the inserts; nil: the server's default
	MaxErrors     int                        // how many document errors to keep for the report; default 10
	Progress      *Progress
	Logger        *slog.Logger
	// CheckArchive, when set, is called once the whole archive was read and every document
	// written, before anything is replaced, with every namespace of the archive as it was
	// read (counts and CRCs, filtered-out namespaces included). An error fails the restore
	// like a corrupt archive: with Drop nothing is replaced.
	CheckArchive func(ctx context.Context, archive []NamespaceStats) error
	// MoreOplog, when set, supplies oplog entries to replay after the archive's own oplog
	// (point-in-time recovery: the archived chunks from the backup's consistent point up
	// to the target). Restore calls it once, after every document of the archive is in
	// and the archive's oplog was applied, and it calls apply with each entry in
	// timestamp order. The entries go through the same replay as the archive's: into the
	// temporary collections with Drop, under the filter and renames; with DryRun they are
	// only parsed and counted. Its error fails the restore like a corrupt archive: with
	// Drop nothing is replaced.
	MoreOplog func(ctx context.Context, apply func(entry bson.Raw) error) error

	// Tests only: swapHook runs each step of the swap (numbered from 1) through run, or fails
	// it; rollbackHook can fail every command of a rollback.
	swapHook     func(step int, what string, run func() error) error
	rollbackHook func() error
	noUUIDs      bool   // as on a server that lists no collection UUIDs: the copies are counted
	insertHook   func() // runs before each insert is sent
}

// RestoreStats is what Restore did.
type RestoreStats struct {
	Header     archive.Header
	Namespaces []NamespaceStats // restored namespaces (target names), sorted
	Skipped    map[string]string
	Inserted   int64
	Failed     int64
	Duplicates int64    // of Failed: refused as duplicate keys (code 11000), e.g. already in the target
	Unsure     int64    // documents of inserts that failed without the server's answer: maybe inserted
	Errors     []string // the first document errors, for the report
	// Leftovers are the temporary collections of earlier interrupted restores found in the
	// target databases and dropped; MovedAside the collections such a restore moved aside,
	// found and left alone (they may hold the only copy of the data they replaced).
	Leftovers  []string
	MovedAside []string
	// PeakInserts is the most inserts in flight at once: up to Workers.
	PeakInserts int64
	// PeakBuffered is the most bytes of batch buffers held at once: documents read from the
	// archive and not yet inserted. The memory budget bounds it to restoreMemoryBudget, or
	// to one batch when a single document is larger.
	PeakBuffered int64
	Oplog        *oplog.ReplayStats // what the oplog replay did, nil without one
}

// restoreMemoryBudget bounds the bytes of documents read from the archive and not yet
// inserted, so a restore's memory does not grow with document size or collection count:
// every batch holds its buffer's size of it, from its first document until the server
// answered its insert (or it was dropped). While an insert is in flight the driver holds
// two more copies of it (the marshalled command and its wire message), so the heap's
// working set is about three times this plus the zstd window: ~70 MB measured. 16 MiB
// still leaves room for four to six inserts of 2 MiB at once, more than a server needs to
// stay busy; 32 MiB made no restore faster and the heap 40 MB larger.
const restoreMemoryBudget = 16 << 20

// ErrPreserveUUIDNeedsDrop: a collection's UUID can only be set when it is created, so
// PreserveUUID needs Drop.
var ErrPreserveUUIDNeedsDrop = errors.New("dump: preserving collection UUIDs needs Drop: a collection's UUID can only be set when it is created")

// ErrTimeseriesExists: documents cannot be appended to an existing time-series collection.
var ErrTimeseriesExists = errors.New("dump: the time-series collection already exists and cannot be appended to")

// ErrDocumentsFailed means the server refused some documents (duplicate keys, validation).
// mongorestore exits 0 in that case; Restore does not.
var ErrDocumentsFailed = errors.New("dump: some documents were not restored")

// ErrNothingToRestore: the namespace filter left nothing of the archive to restore.
var ErrNothingToRestore = errors.New("dump: nothing in the archive matches the namespace filter")

// Restore reads a mongodump archive from r and writes it through client.
//
// Without Drop, collections that exist are appended to, as mongorestore does. With Drop,
// every existing collection is first restored into a temporary collection in its target
// database; only when the whole archive has been read, every CRC matched, CheckArchive
// agreed and no document failed are the temporary collections swapped in. Before anything
// is written, a pre-flight proves that the server can make every rename the swap needs.
// Any failure, before or during the swap, cancellation included, is rolled back: the
// existing collections are left exactly as they were, and the error says so — or, only
// when the rollback itself fails, says where each collection's data is.
func Restore(ctx context.Context, client *mongo.Client, r io.Reader, opts RestoreOptions) (RestoreStats, error) {
	opts = opts.withDefaults()
	if opts.PreserveUUID && !opts.Drop {
		return RestoreStats{}, ErrPreserveUUIDNeedsDrop
	}
	ar := archive.NewReader(r)
	prelude, err := ar.Prelude()
	if err != nil {
		return RestoreStats{}, err
	}
	stats := RestoreStats{Header: prelude.Header}
	pl, err := makePlan(prelude, opts)
	if err != nil {
		return stats, err
	}
	stats.Skipped = pl.skipped
	if err := pl.checkNotEmpty(prelude, opts.MoreOplog != nil); err != nil {
		return stats, err
	}
	rs := &restorer{client: client, opts: opts, plan: pl, log: opts.Logger, states: map[string]*nsState{},
		budget: semaphore.NewWeighted(restoreMemoryBudget), slots: semaphore.NewWeighted(int64(opts.Workers)), clock: newPhaseClock()}
	if opts.DryRun {
		rs.client = nil
	} else if client == nil {
		return stats, errors.New("restore: no MongoDB client")
	}
	if err := rs.initOplog(); err != nil {
		return stats, err
	}
	err = rs.prepare(ctx)
	rs.clock.mark("prepare")
	stats.Leftovers, stats.MovedAside = rs.leftovers, rs.asideFound
	if err != nil {
		return stats, err
	}

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rs.cancel = cancel
	readErr := rs.readAll(rctx, ar)
	if readErr == nil && opts.MoreOplog != nil && rctx.Err() == nil {
		readErr = rs.replayMore(rctx)
	}
	if readErr != nil {
		cancel(readErr)
	}
	rs.closeAll()
	waitErr := rs.wait()
	err = errors.Join(readErr, waitErr)
	if err == nil {
		err = context.Cause(rctx) // a cancellation from outside
	}
	rs.clock.mark("read_and_insert")
	if err == nil && pl.emptyUnlessReplayed != nil && !rs.replayWrote() {
		err = pl.emptyUnlessReplayed
	}
	if err == nil && opts.CheckArchive != nil {
		err = opts.CheckArchive(ctx, archiveNamespaces(ar))
	}
	if err == nil && !opts.DryRun {
		err = rs.finishChecked(ctx)
	}
	rs.log.Debug("restore phases", rs.clock.report()...)
	return rs.outcome(ctx, stats, err)
}

// outcome completes the statistics and, when the restore failed, rolls back (with Drop)
// or says what the failed restore left (without).
func (rs *restorer) outcome(ctx context.Context, stats RestoreStats, err error) (RestoreStats, error) {
	opts := rs.opts
	rs.fillStats(&stats)
	if err == nil && stats.Failed > 0 {
		err = fmt.Errorf("%w: %d of %d documents refused by the server", ErrDocumentsFailed, stats.Failed, stats.Failed+stats.Inserted)
	}
	switch {
	case err != nil && opts.Drop && !opts.DryRun:
		err = rs.rollback(ctx, err)
	case err != nil && opts.DryRun:
		// nothing was written
	case err != nil && !opts.Drop && stats.Unsure > 0:
		err = fmt.Errorf("%w (%d documents had already been inserted and stay, and up to %d more whose insert got no answer may have been: this restore appended to the existing collections)", err, stats.Inserted, stats.Unsure)
	case err != nil && !opts.Drop && stats.Inserted > 0:
		err = fmt.Errorf("%w (%d documents had already been inserted and stay: this restore appended to the existing collections)", err, stats.Inserted)
	}
	return stats, err
}

// fillStats adds to stats what the restore did.
func (rs *restorer) fillStats(stats *RestoreStats) {
	stats.Namespaces, stats.Inserted, stats.Failed, stats.Errors = rs.results()
	stats.Duplicates = rs.duplicates.Load()
	if rs.replay != nil {
		stats.Oplog = &rs.replay.stats
	}
	for _, st := range rs.sortedStates() {
		stats.Unsure += st.unsure.Load()
	}
	stats.PeakBuffered, stats.Leftovers = rs.heldPeak.Load(), rs.leftovers // with those found after the swap
	stats.PeakInserts = rs.peakSending.Load()
}

// createWithUUID wraps a create command in applyOps with the collection UUID, as
// mongorestore --preserveUUID does (docs/archive-format.md §6).
func createWithUUID(db string, create bson.D, uuid string) (bson.D, error) {
	u, err := hex.DecodeString(uuid)
	if err != nil || len(u) != 16 {
		return nil, fmt.Errorf("metadata uuid %q is not 32 hex digits", uuid)
	}
	op := bson.D{{Key: "op", Value: "c"}, {Key: "ns", Value: db + ".$cmd"}, {Key: "o", Value: create}, {Key: "ui", Value: bson.Binary{Subtype: 4, Data: u}}}
	return bson.D{{Key: "applyOps", Value: bson.A{op}}}, nil
}

func (o RestoreOptions) withDefaults() RestoreOptions {
	if o.BatchDocs <= 0 {
		o.BatchDocs = 1000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = defaultBatchBytes
	}
	o.BatchBytes = min(o.BatchBytes, maxCommandBytes)
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// restorer is the state of one Restore call.
type restorer struct {
	client *mongo.Client
	opts   RestoreOptions
	plan   *plan
	log    *slog.Logger
	cancel context.CancelCauseFunc

	existing             map[string]bool              // target namespaces that exist before the restore
	existingInfo         map[string]existingNamespace // the same, with what prepare learned of each
	leftovers            []string                     // temporaries of earlier restores, dropped
	asideFound           []string                     // collections earlier restores moved aside
	swaps                []*swapEntry                 // with Drop: the journal of the swap
	steps                int                          // swap steps started, for the test hook
	budget               *semaphore.Weighted
	slots                *semaphore.Weighted // Workers inserts in flight, for all namespaces
	sending, peakSending atomic.Int64        // inserts in flight now, and the most at once
	clock                *phaseClock
	held, heldPeak       atomic.Int64 // bytes of batch buffers alive, and their peak
	lastDB, lastColl     string       // the namespace of the previous record, and its target
	lastTarget           *target      // (nil: skipped): records come in blocks of one namespace
	lastKnown            bool         // lastTarget is set
	wg                   sync.WaitGroup
	mu                   sync.Mutex
	states               map[string]*nsState // by data namespace
	errs                 []string
	duplicates           atomic.Int64
	replay               *oplogReplay // nil when the archive's oplog is not replayed
	authUsers, authRoles []bson.Raw   // small: held in memory until the merge
	authDB               string       // "" for admin's own entries, else the dumped database
}

// nsState follows one namespace through the restore.
type nsState struct {
	t        *target
	coll     string // collection written to: the target, or a temporary one with Drop
	dataColl string // collection the documents go to: coll, or its buckets for a time series
	header   []byte // start of every insert command into dataColl
	batches  chan *batch
	batch    *batch
	closed   bool   // batches closed; touched only by the reading goroutine
	created  bool   // this restore created the collection (it did not exist before)
	gone     bool   // with Drop: the oplog replay dropped the temporary collection
	uuid     string // with Drop: the temporary collection's UUID when created ("" when the server gives none)
	inserted atomic.Int64
	failed   atomic.Int64
	unsure   atomic.Int64 // documents of inserts that got no answer: the server may have them
	done     chan struct{}
	err      error
	progress *nsProgress // this namespace's counters, nil without Progress

	seenDocs, seenBytes int64 // documents read so far, to size the next batch; reading goroutine only
}

// readAll demultiplexes the archive and hands documents to each namespace's inserters.
func (rs *restorer) readAll(ctx context.Context, ar *archive.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return nil // the cause is reported by Restore
		}
		rec, err := ar.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		t := rs.target(rec)
		if t == nil {
			continue // skipped; the reader still checks its CRC
		}
		switch t.kind {
		case kindOplog:
			if err := rs.replayRecord(ctx, rec); err != nil {
				return err
			}
			continue
		case kindAuthUsers, kindAuthRoles:
			if rec.Doc != nil {
				doc := append(bson.Raw(nil), rec.Doc...)
				if t.kind == kindAuthUsers {
					rs.authUsers = append(rs.authUsers, doc)
				} else {
					rs.authRoles = append(rs.authRoles, doc)
				}
				rs.opts.Progress.add(1, int64(len(doc)))
			}
			if t.entry.DB != "admin" {
				rs.authDB = t.entry.DB
			}
			continue
		}
		st := rs.state(ctx, t)
		if rec.EOF {
			rs.flush(ctx, st)
			close(st.batches)
			st.closed = true
			continue
		}
		if err := rs.add(ctx, st, rec.Doc); err != nil {
			return nil // cancelled while waiting for memory; Restore reports the cause
		}
	}
}

// add puts doc into its namespace's batch, sending the batch when it is full and starting
// the next one. It fails only when ctx ends while it waits for memory.
func (rs *restorer) add(ctx context.Context, st *nsState, doc []byte) error {
	if st.batch != nil && !st.batch.fits(doc) {
		rs.flush(ctx, st)
	}
	if st.batch == nil {
		b, err := rs.startBatch(ctx, st, len(doc))
		if err != nil {
			return err
		}
		st.batch = b
	}
	st.batch.add(doc)
	st.seenDocs++
	st.seenBytes += int64(len(doc))
	if st.batch.len() >= rs.opts.BatchDocs {
		rs.flush(ctx, st)
	}
	return nil
}

// startBatch sizes a namespace's next batch from its documents so far — room for
// BatchDocs of them, at most BatchBytes, at least the document at hand — and waits for
// that much of the memory budget. Other namespaces' unfinished batches hold budget too:
// if it is short they are sent first, so that the wait always ends.
func (rs *restorer) startBatch(ctx context.Context, st *nsState, docLen int) (*batch, error) {
	avg := int64(1024) // a guess, until the namespace's first documents are seen
	if st.seenDocs > 0 {
		avg = st.seenBytes / st.seenDocs
	}
	size := int(min(int64(rs.opts.BatchBytes), int64(len(st.header))+int64(rs.opts.BatchDocs)*(avg+batchTrailer)))
	// Room in the budget for a batch in every worker and the one being filled: else one
	// collection could not keep all its workers busy (16 workers of 2 MiB batches would
	// wait for budget with 7 inserts in flight).
	size = min(size, restoreMemoryBudget/(rs.opts.Workers+1))
	size = max(size, len(st.header)+docLen+batchTrailer)
	weight := min(int64(size), restoreMemoryBudget)
	if !rs.budget.TryAcquire(weight) {
		for _, other := range rs.states {
			if other != st && !other.closed {
				rs.flush(ctx, other)
			}
		}
		if err := rs.budget.Acquire(ctx, weight); err != nil {
			return nil, err
		}
	}
	b := newBatch(st.header, size)
	b.weight = weight
	// Only this goroutine raises held, so only it can see a new peak.
	if held := rs.held.Add(int64(cap(b.cmd))); held > rs.heldPeak.Load() {
		rs.heldPeak.Store(held)
	}
	return b, nil
}

// target returns the target of a record's namespace, nil if it is skipped. Building the
// namespace string for every document would allocate; records come in blocks of one
// namespace, whose names the reader hands out as the same strings each time.
func (rs *restorer) target(rec archive.Record) *target {
	if !rs.lastKnown || rec.DB != rs.lastDB || rec.Collection != rs.lastColl {
		rs.lastDB, rs.lastColl, rs.lastKnown = rec.DB, rec.Collection, true
		rs.lastTarget = rs.plan.targets[rec.Namespace()]
	}
	return rs.lastTarget
}

// closeAll ends the input of every namespace still open, so its goroutine finishes even
// when the archive stopped early.
func (rs *restorer) closeAll() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, st := range rs.states {
		if !st.closed {
			if st.batch != nil {
				rs.release(st.batch)
				st.batch = nil
			}
			close(st.batches)
			st.closed = true
		}
	}
}

// flush sends the namespace's batch to its inserters.
func (rs *restorer) flush(ctx context.Context, st *nsState) {
	b := st.batch
	if b == nil {
		return
	}
	st.batch = nil
	b.seal()
	select {
	case st.batches <- b:
	case <-ctx.Done():
		rs.done(b)
	}
}

// done is the end of a batch's life: its share of the memory budget is returned.
func (rs *restorer) done(b *batch) { rs.release(b) }

// release returns a batch's share of the memory budget.
func (rs *restorer) release(b *batch) {
	if b.weight > 0 {
		// held first: once the budget is released the reader may start a batch at once,
		// and counting it beside this one would show a peak above the budget that never was.
		rs.held.Add(-int64(cap(b.cmd)))
		rs.budget.Release(b.weight)
		b.weight = 0
	}
}

// state returns the namespace's state, starting its goroutine on first sight.
func (rs *restorer) state(ctx context.Context, t *target) *nsState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if st := rs.states[t.dataNS]; st != nil {
		return st
	}
	st := &nsState{t: t, coll: t.coll, batches: make(chan *batch, rs.opts.Workers), done: make(chan struct{})}
	// Only existing collections need the temporary-then-swap dance; a new one is written
	// in place and, with Drop, dropped again if the restore fails.
	if rs.opts.Drop && rs.client != nil && t.kind != kindView && rs.existing[t.namespace()] {
		st.coll = temporaryName()
	}
	st.dataColl = st.coll
	if t.kind == kindTimeseries && t.dataColl != t.coll {
		st.dataColl = "system.buckets." + st.coll
	}
	st.header = insertHeader(st.dataColl, rs.opts.Bypass && t.kind != kindTimeseries, rs.opts.WriteConcern)
	rs.states[t.dataNS] = st
	st.progress = rs.opts.Progress.namespace(t.source, 0)
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		defer close(st.done)
		defer st.progress.finish()
		st.err = rs.run(ctx, st)
		if st.err != nil {
			rs.cancel(st.err)
			for b := range st.batches { // let the reader go on to its own end
				rs.done(b)
			}
		}
	}()
	return st
}

// writeContext is the context of one write command. A write is never abandoned halfway
// when the restore is cancelled: the driver would stop waiting, but the server would go on
// and could, after the cleanup dropped a collection, create it again with a partial batch.
// So cancellation is checked between writes. A write has no deadline either: an index
// build or a big batch may rightly take long, while a server that stops answering is
// caught by the driver's monitoring, which interrupts the connections of a server that
// missed two heartbeats (each waited for at most the client's connect timeout).
func writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.WithoutCancel(ctx))
}

func (rs *restorer) wait() error {
	rs.wg.Wait()
	var errs []error
	for _, st := range rs.states {
		if st.err != nil {
			errs = append(errs, st.err)
		}
	}
	return errors.Join(errs...)
}

// run creates the namespace's collection, inserts its batches with several workers, and
// builds its indexes once every document is in.
func (rs *restorer) run(ctx context.Context, st *nsState) error {
	t := st.t
	if rs.client == nil { // dry run: count only
		for b := range st.batches {
			st.inserted.Add(int64(b.len()))
			st.progress.add(int64(b.len()), b.docBytes)
			rs.done(b)
		}
		return nil
	}
	if t.kind == kindView {
		for b := range st.batches {
			rs.done(b)
		}
		return nil // views are created at the end, after their sources
	}
	if ctx.Err() != nil { // the restore stopped before this namespace began
		for b := range st.batches {
			rs.done(b)
		}
		return nil
	}
	db := rs.client.Database(t.db)
	if err := rs.create(ctx, db, st); err != nil {
		return err
	}
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for range rs.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range st.batches {
				if ctx.Err() != nil { // stopping: drain without writing
					rs.done(b)
					continue
				}
				if err := rs.insert(ctx, db, st, b); err != nil {
					errOnce.Do(func() { firstErr = err })
					rs.cancel(err)
				}
				rs.done(b)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if ctx.Err() != nil {
		return nil
	}
	if rs.opts.NoIndex || t.meta == nil || rs.deferIndexes() {
		return nil // with an oplog replay, indexes are built after it
	}
	start := time.Now()
	defer func() { rs.clock.indexes.Add(int64(time.Since(start))) }()
	return rs.createIndexes(ctx, db, st)
}

// create makes the collection with the archive's options, unless it already exists and
// is being appended to.
func (rs *restorer) create(ctx context.Context, db *mongo.Database, st *nsState) error {
	t := st.t
	if !rs.opts.Drop && rs.existing[t.namespace()] {
		return nil
	}
	cmd := createCommand(st.coll, t.meta)
	st.created = st.coll == t.coll
	wctx, cancel := writeContext(ctx)
	defer cancel()
	run := db.RunCommand(wctx, cmd)
	if rs.opts.PreserveUUID && t.meta != nil && t.meta.UUID != "" {
		// Renames within a database keep the UUID, so the swap of --drop preserves it too.
		op, err := createWithUUID(t.db, cmd, t.meta.UUID)
		if err != nil {
			return fmt.Errorf("restore %s: %w", t.namespace(), err)
		}
		run = rs.client.Database("admin").RunCommand(wctx, op)
	}
	if err := run.Err(); err != nil {
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == 48 && !rs.opts.Drop { // NamespaceExists: created meanwhile
			return nil
		}
		return fmt.Errorf("restore %s: create collection: %w", t.namespace(), err)
	}
	if st.coll != t.coll && !rs.opts.noUUIDs {
		// Its identity, for checkTemporaries; without it (a listing error) the copy is counted.
		if uuids, err := collectionUUIDs(ctx, db, []string{st.coll}); err == nil {
			st.uuid = uuids[st.coll]
		}
	}
	return nil
}

// createCommand builds {create: name, ...options}, dropping options that a create
// command refuses (docs/archive-format.md §6).
func createCommand(name string, md *archive.Metadata) bson.D {
	cmd := bson.D{{Key: "create", Value: name}}
	if md == nil || md.Options == nil {
		return cmd
	}
	elems, err := md.Options.Elements()
	if err != nil {
		return cmd
	}
	for _, e := range elems {
		switch e.Key() {
		case "autoIndexId", "recordIdsReplicated", "idIndex":
			continue
		}
		cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
	}
	return cmd
}

// finish runs what must wait for the whole archive: oplog replay, users and roles, views,
// and with Drop the swap of every temporary collection into place, then its commit. With
// Drop, an error returned here is rolled back by Restore.
func (rs *restorer) finish(ctx context.Context) error {
	if _, _, failed, _ := rs.results(); failed > 0 {
		return nil // Restore reports the failure; Drop must not swap in incomplete data
	}
	if err := rs.finishOplog(ctx); err != nil {
		return err
	}
	rs.clock.mark("check_and_oplog")
	if !rs.opts.Drop {
		if rs.opts.UsersAndRoles {
			if err := rs.restoreAuth(ctx); err != nil {
				return err
			}
		}
		return rs.createViews(ctx)
	}
	if err := rs.checkTemporaries(ctx); err != nil {
		return err
	}
	rs.clock.mark("count_copies")
	if err := rs.swapAll(ctx); err != nil {
		return err
	}
	rs.clock.mark("swap")
	// The server merges users and roles in one command: done after the swap, so that its
	// failure still rolls the swap back.
	if rs.opts.UsersAndRoles {
		if err := rs.restoreAuth(ctx); err != nil {
			return err
		}
	}
	rs.commit(ctx)
	rs.clock.mark("drop_replaced")
	return nil
}

func (rs *restorer) sortedStates() []*nsState {
	var out []*nsState
	for _, st := range rs.states {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].t.namespace() < out[j].t.namespace() })
	return out
}

// createViews creates the archive's views that do not exist yet, when appending (with
// Drop, views are part of the swap).
func (rs *restorer) createViews(ctx context.Context) error {
	for _, st := range rs.sortedStates() {
		t := st.t
		if t.kind != kindView || rs.existing[t.namespace()] {
			continue
		}
		db := rs.client.Database(t.db)
		if err := db.RunCommand(ctx, createCommand(t.coll, t.meta)).Err(); err != nil {
			return fmt.Errorf("restore view %s: %w", t.namespace(), err)
		}
	}
	return nil
}

func (rs *restorer) results() ([]NamespaceStats, int64, int64, []string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []NamespaceStats
	var ins, fail int64
	for _, st := range rs.states {
		if !st.t.isCollection() {
			continue
		}
		s := NamespaceStats{Namespace: st.t.namespace(), Documents: st.inserted.Load(), Failed: st.failed.Load()}
		ins += s.Documents
		fail += s.Failed
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out, ins, fail, append([]string(nil), rs.errs...)
}
