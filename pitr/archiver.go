package pitr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
)

// errFull stops a read when the chunk has reached its size: it is written before the
// read goes on, from where it stopped.
var errFull = errors.New("pitr: chunk full")

// Archiver copies a server's oplog into chunk objects. One Archiver per prefix: two
// writing the same prefix would write overlapping chains.
type Archiver struct {
	src    oplogSource
	opts   Options
	sel    *oplog.Selector // nil: every entry as the server wrote it
	log    *slog.Logger
	status statusBox

	lease *lease // held while Run runs
	cur   *chunk // the chunk being filled; nil until the start point is known
	// expect is the first entry the next read must return (zero when unknown): the
	// chunk's end when that is an entry read before (or the end of a chunk or a backup's
	// oplog), else the oldest entry a chain starts before. A read that finds it finds that
	// nothing after the chunk's end was lost.
	expect optime.Timestamp
	// floating: the chain starts just before the oldest entry, which the next read finds
	// (its first entry); nothing can be lost before it. With fromFirst it starts at the
	// oplog's beginning (0,0) instead: the oplog never dropped an entry, so its oldest
	// entry is its first.
	floating, fromFirst bool
	// seen is the newest entry the reads saw: what the next round takes entries up to.
	seen optime.Timestamp
	// slowWarned is when a read slower than Poll was last warned about (slowReadWarnEvery).
	slowWarned time.Time
}

// slowReadWarnEvery spaces the warnings about reads slower than Poll: a server that is
// slow stays slow, and one line per read would drown the log.
const slowReadWarnEvery = 10 * time.Minute

// warnSlowRead warns when one read of the oplog took longer than the pause between reads:
// the archive then trails the oplog by whole reads, not by about one pause.
func (a *Archiver) warnSlowRead(took time.Duration, entries int) {
	if took <= a.opts.Poll || time.Since(a.slowWarned) < slowReadWarnEvery {
		return
	}
	a.slowWarned = time.Now()
	a.log.Warn("pitr: one read of the oplog took longer than the poll interval, so the archive trails the oplog by more than the interval says (a slow or loaded server; FerretDB reads its whole oplog for each query)",
		"read_seconds", took.Seconds(), "poll_seconds", a.opts.Poll.Seconds(), "entries", entries)
}

// oplogSource is what the archiver reads of the oplog: an *oplog.Source (tests slow one
// down).
type oplogSource interface {
	ReadRange(ctx context.Context, from, to optime.Timestamp, batch int32, fn func(bson.Raw) error) error
	Newest(ctx context.Context) (optime.Timestamp, bool, error)
	Oldest(ctx context.Context) (optime.Timestamp, bool, error)
	Whole(ctx context.Context) (bool, string, error)
}

// New checks that client's server has a readable oplog and returns an archiver of it.
// It fails with an error wrapping oplog.ErrNoOplog when it has none.
func New(ctx context.Context, client *mongo.Client, opts Options) (*Archiver, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	src, err := oplog.OpenSource(ctx, client)
	if err != nil {
		return nil, err
	}
	newest, _, err := src.Newest(ctx)
	if err != nil {
		return nil, err
	}
	// The first round takes entries up to this one.
	a := &Archiver{src: src, opts: opts, log: opts.Logger, seen: newest}
	if opts.Namespaces != nil || len(opts.Databases) > 0 {
		a.sel = oplog.NewSelector(oplog.CaptureOptions{Namespaces: opts.Namespaces, Databases: opts.Databases})
	}
	a.status.s.Started = time.Now()
	return a, nil
}

// Status returns what the archiver has done so far; safe to call at any time.
func (a *Archiver) Status() Status { return a.status.get() }

// Run takes the prefix's lease, archives until ctx ends, then reads what the oplog holds
// up to that moment, writes the last chunk, releases the lease and returns nil. Failed
// reads and uploads are logged, counted in Status and tried again, with a growing pause.
// Run fails at once, wrapping ErrLeaseHeld, when another archiver holds the lease; it
// stops writing at once and fails, wrapping ErrLeaseLost, when another archiver takes it
// over; and it fails when the last chunk cannot be stored before FlushTimeout.
func (a *Archiver) Run(ctx context.Context) error {
	// The store's failed attempts turn the status at once, before its retries run out.
	ctx = storage.WithFailedAttempts(ctx, a.status.attemptFailed)
	l, err := acquireLease(ctx, a.opts.Store, a.opts.Prefix, newHolder(a.opts.ToolVersion), a.opts.LeaseTTL, a.log)
	if err != nil {
		return err
	}
	a.lease = l
	// Renewals go on through the shutdown's last chunk, until the release.
	kctx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	go l.keep(kctx, a.status.failed)
	defer stopKeeping()
	a.log.Info("pitr started", "store", a.opts.Store.String(), "interval", a.opts.Interval.String(),
		"chunk_size", a.opts.ChunkSize, "compression", a.opts.Encoding.Compression, "scope", a.opts.Scope.String(),
		"lease_epoch", l.epoch())
	err = a.loop(ctx)
	stopKeeping()
	if !errors.Is(err, ErrLeaseLost) {
		// This archiver writes nothing more: the next one need not wait for the expiry, even
		// when the last chunk could not be stored (its entries are read again then).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.LeaseTTL/4)
		defer cancel()
		l.release(rctx)
	}
	return err
}

// loop polls until ctx ends (then it stores the last chunk) or the lease is lost.
func (a *Archiver) loop(ctx context.Context) error {
	delay := a.opts.RetryMin
	for {
		wait, began := a.opts.Poll, time.Now()
		err := a.poll(ctx)
		if err == nil && a.pending() && time.Since(began) >= a.opts.Poll/2 {
			// A round that took that long is pause enough for the entries it left to the
			// next round (a slow server: FerretDB reads its whole oplog for each query).
			wait = 0
		}
		switch {
		case errors.Is(err, ErrLeaseLost) || a.lease.isLost():
			return a.lease.lostErr()
		case err != nil && ctx.Err() == nil:
			a.status.failed(err)
			a.log.Error("pitr: "+err.Error(), "retry_in", delay.String())
			wait, delay = delay, min(2*delay, a.opts.RetryMax)
		case err == nil:
			delay = a.opts.RetryMin
			// A round that went well ends a failure — unless the lease could not be renewed
			// since (the store failing between two uploads).
			if rerr := a.lease.renewFailure(); rerr == nil {
				a.status.succeeded()
			}
		}
		select {
		case <-ctx.Done():
			return a.shutdown(ctx)
		case <-a.lease.lost:
			return a.lease.lostErr()
		case <-time.After(wait):
		}
	}
}

// poll is one round: store a chunk whose upload failed before, read the oplog after the
// chunk in progress, and write the chunk when it is due.
//
// A round costs one query of the oplog: on FerretDB every query reads the whole oplog
// (it has no index on ts), so rounds do without the newest and oldest entries' queries.
// What a read returns after the limit (the newest entry the round before saw) is left for
// the next round: FerretDB writes concurrent entries out of timestamp order, and an entry
// whose timestamp comes before one already visible may appear a moment later.
func (a *Archiver) poll(ctx context.Context) error {
	if a.cur != nil && a.cur.sealed {
		if err := a.flush(ctx); err != nil {
			return err
		}
	}
	if a.cur == nil {
		if err := a.begin(ctx); err != nil {
			return err
		}
	}
	if a.seen.IsZero() { // the first round: the limit is the newest entry now
		newest, ok, err := a.src.Newest(ctx)
		if err != nil || !ok {
			return err // an empty oplog: nothing to archive yet
		}
		a.saw(newest)
	}
	if err := a.archive(ctx, a.seen); err != nil {
		return err
	}
	if a.cur.due(time.Now(), a.opts.Interval) {
		return a.flush(ctx)
	}
	return nil
}

// pending reports entries seen but left for the next round.
func (a *Archiver) pending() bool { return a.cur != nil && a.seen.After(a.cur.until) }

// saw records the newest entry a read returned.
func (a *Archiver) saw(ts optime.Timestamp) {
	if ts.After(a.seen) {
		a.seen = ts
	}
	a.status.update(func(s *Status) {
		s.Newest = a.seen
		if a.cur != nil {
			s.ReadUpTo = a.cur.until
		}
	})
}

// archive reads the entries after the current chunk's end, takes those up to limit,
// and writes a chunk each time one fills up. Before a read from a point that is not an
// entry read before (the start of a chain), and when that entry is gone, it checks that
// the oplog still holds everything after that point; if not, the gap is recorded.
func (a *Archiver) archive(ctx context.Context, limit optime.Timestamp) error {
	for {
		if a.expect.IsZero() && !a.floating {
			if err := a.checkGap(ctx); err != nil {
				return err
			}
		}
		full, err := a.read(ctx, limit)
		switch {
		case errors.Is(err, errAnchorGone):
			a.expect = optime.Timestamp{} // the next pass checks for a gap first
			continue
		case err != nil:
			return err
		case !full:
			return nil
		}
		if err := a.flush(ctx); err != nil {
			return err
		}
	}
}

// errAnchorGone stops a read whose first entry is not the one the range starts after.
var errAnchorGone = errors.New("pitr: the last entry read is no longer in the oplog")

// read reads the oplog from the current chunk's end on, adding the entries up to limit
// to the chunk; full says it stopped because the chunk is full. It goes on to the end
// of the oplog, to learn the limit of the next round.
func (a *Archiver) read(ctx context.Context, limit optime.Timestamp) (full bool, err error) {
	from, first := a.cur.until, true
	var newest optime.Timestamp
	began, entries := time.Now(), 0
	defer func() { a.warnSlowRead(time.Since(began), entries) }()
	err = a.src.ReadRange(ctx, from, optime.Max, defaultBatch, func(raw bson.Raw) error {
		entries++
		ts, ok := oplog.EntryTimestamp(raw)
		if !ok {
			return fmt.Errorf("%w: an oplog entry without a timestamp after %s", oplog.ErrBadEntry, from)
		}
		newest = ts
		if first && a.floating {
			a.floating = false
			if !a.fromFirst {
				a.cur.since, a.cur.until, from = ts.Prev(), ts.Prev(), ts.Prev()
			}
			a.log.Info("the new chain starts before the oldest entry", "since", a.cur.since.String(), "oldest", ts.String())
		}
		if first && !a.expect.IsZero() && ts != a.expect {
			return errAnchorGone
		}
		first = false
		if !ts.After(from) || ts.After(limit) {
			return nil // the entry the range starts after, or one for the next round
		}
		if err := a.take(raw, ts); err != nil {
			return err
		}
		a.expect = ts
		if a.cur.raw >= a.opts.ChunkSize {
			return errFull
		}
		return nil
	})
	a.saw(newest)
	full = errors.Is(err, errFull)
	if full {
		return true, nil
	}
	return false, err
}

// take adds an entry read to the chunk: as it is, when everything is archived; else as
// the selection keeps it, or only as the end of the range when it keeps nothing.
func (a *Archiver) take(raw bson.Raw, ts optime.Timestamp) error {
	if a.sel == nil {
		return a.cur.add(raw, ts, entryOp(raw))
	}
	out, keep, err := a.sel.Keep(raw)
	if errors.Is(err, oplog.ErrRefused) {
		// A backup refuses a rename and the like; an archive keeps the entry as it is and
		// leaves the decision to the restore that replays it.
		a.log.Warn("archiving an entry a consistent backup would refuse", "entry", ts.String(), "reason", err.Error())
		out, keep, err = raw, true, nil
	}
	if err != nil {
		return err
	}
	if !keep {
		a.cur.advance(ts)
		return nil
	}
	return a.cur.add(out, ts, entryOp(out))
}

// restartChunk replaces the current chunk with an empty one starting after since; expect
// is the entry the next read must find first, zero when unknown.
func (a *Archiver) restartChunk(since, expect optime.Timestamp, previous, chainStart string) error {
	c, err := newChunk(since, a.opts.Encoding)
	if err != nil {
		return err
	}
	c.previous, c.chainStart = previous, chainStart
	a.cur, a.expect, a.floating, a.fromFirst = c, expect, false, false
	return nil
}
