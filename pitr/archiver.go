package pitr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/oplog"
)

// errFull stops a read when the chunk has reached its size: it is written before the
// read goes on, from where it stopped.
var errFull = errors.New("pitr: chunk full")

// Archiver copies a server's oplog into chunk objects. One Archiver per prefix: two
// writing the same prefix would write overlapping chains.
type Archiver struct {
	src    *oplog.Source
	opts   Options
	sel    *oplog.Selector // nil: every entry as the server wrote it
	log    *slog.Logger
	status statusBox

	cur *chunk // the chunk being filled; nil until the start point is known
	// seen is the newest entry the previous poll saw: the end of the next read.
	seen catalog.Timestamp
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
	if _, _, err := src.Newest(ctx); err != nil {
		return nil, err
	}
	a := &Archiver{src: src, opts: opts, log: opts.Logger}
	if opts.Namespaces != nil || len(opts.Databases) > 0 {
		a.sel = oplog.NewSelector(oplog.CaptureOptions{Namespaces: opts.Namespaces, Databases: opts.Databases})
	}
	a.status.s.Started = time.Now()
	return a, nil
}

// Status returns what the archiver has done so far; safe to call at any time.
func (a *Archiver) Status() Status { return a.status.get() }

// Run archives until ctx ends, then reads what the oplog holds up to that moment, writes
// the last chunk and returns nil. Failed reads and uploads are logged, counted in Status
// and tried again, with a growing pause; Run returns an error only when the last chunk
// cannot be stored before FlushTimeout.
func (a *Archiver) Run(ctx context.Context) error {
	a.log.Info("pitr started", "store", a.opts.Store.String(), "interval", a.opts.Interval.String(),
		"chunk_size", a.opts.ChunkSize, "compression", a.opts.Encoding.Compression, "scope", a.opts.Scope.String())
	delay := a.opts.RetryMin
	for {
		wait := a.opts.Poll
		err := a.poll(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.status.failed(err)
			a.log.Error("pitr: "+err.Error(), "retry_in", delay.String())
			wait, delay = delay, min(2*delay, a.opts.RetryMax)
		case err == nil:
			delay = a.opts.RetryMin
			a.status.update(func(s *Status) { s.LastError = "" })
		}
		select {
		case <-ctx.Done():
			return a.shutdown(ctx)
		case <-time.After(wait):
		}
	}
}

// poll is one round: store a chunk whose upload failed before, read the oplog up to what
// the previous round saw, and write the chunk when it is due.
func (a *Archiver) poll(ctx context.Context) error {
	if a.cur != nil && a.cur.sealed {
		if err := a.flush(ctx); err != nil {
			return err
		}
	}
	newest, ok, err := a.src.Newest(ctx)
	if err != nil || !ok {
		return err // an empty oplog: nothing to archive yet
	}
	limit := a.seen
	a.seen = catalog.Timestamp(newest)
	a.status.update(func(s *Status) { s.Newest = catalog.Timestamp(newest) })
	if a.cur == nil {
		if err := a.begin(ctx); err != nil {
			return err
		}
	}
	if !limit.IsZero() {
		if err := a.archive(ctx, limit); err != nil {
			return err
		}
	}
	if a.cur.due(time.Now(), a.opts.Interval) {
		return a.flush(ctx)
	}
	return nil
}

// archive reads the entries after the current chunk's end up to limit (included),
// writing a chunk each time one fills up.
func (a *Archiver) archive(ctx context.Context, limit catalog.Timestamp) error {
	for a.cur.until.Before(limit) {
		if err := a.checkGap(ctx); err != nil {
			return err
		}
		full, err := a.read(ctx, limit)
		if err != nil {
			return err
		}
		if !full {
			return nil
		}
		if err := a.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// read reads from the current chunk's end up to limit into the chunk; full says it
// stopped because the chunk is full. It then checks that the oplog did not lose entries
// of the range while it was read; if it did, the chunk is dropped, and the next check
// finds the gap.
func (a *Archiver) read(ctx context.Context, limit catalog.Timestamp) (full bool, err error) {
	from := a.cur.until
	err = a.src.ReadRange(ctx, bson.Timestamp(from), bson.Timestamp(limit), defaultBatch, func(raw bson.Raw) error {
		ts, ok := tsOf(raw)
		if !ok {
			return fmt.Errorf("%w: an oplog entry without a timestamp after %s", oplog.ErrBadEntry, from)
		}
		if !ts.After(from) {
			return nil // the entry the range starts after
		}
		if err := a.take(raw, ts); err != nil {
			return err
		}
		if a.cur.raw >= a.opts.ChunkSize {
			return errFull
		}
		return nil
	})
	full = errors.Is(err, errFull)
	if err != nil && !full {
		return false, err
	}
	lost, err := a.lostAfter(ctx, from)
	if err != nil || !lost {
		return full, err
	}
	a.log.Warn("the oplog rolled over while it was read: the chunk being filled is dropped", "since", a.cur.since.String())
	return false, a.restartChunk(a.cur.since, a.cur.previous, a.cur.chainStart)
}

// take adds an entry read to the chunk: as it is, when everything is archived; else as
// the selection keeps it, or only as the end of the range when it keeps nothing.
func (a *Archiver) take(raw bson.Raw, ts catalog.Timestamp) error {
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

// restartChunk replaces the current chunk with an empty one starting after since.
func (a *Archiver) restartChunk(since catalog.Timestamp, previous, chainStart string) error {
	c, err := newChunk(since, a.opts.Encoding)
	if err != nil {
		return err
	}
	c.previous, c.chainStart = previous, chainStart
	a.cur = c
	return nil
}
