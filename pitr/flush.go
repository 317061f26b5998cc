package pitr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
)

// cleanupTimeout bounds the deletion of what a failed upload left, which runs even when
// the context that failed it is cancelled.
const cleanupTimeout = 30 * time.Second

// flush writes the current chunk, when its range holds anything: the object, then — right
// after renewing the lease, the commit point — its manifest, which makes it complete. Both
// writes run under the lease's guard. On failure whatever was stored is deleted and the
// chunk stays, sealed, to be uploaded again as it is (same range, same bytes); on success
// the next chunk starts at its end. A lost lease stops it, deleting nothing: the key may
// be the new holder's chunk too.
func (a *Archiver) flush(ctx context.Context) error {
	c := a.cur
	if c == nil || c.empty() {
		return nil
	}
	if err := c.seal(); err != nil {
		return fmt.Errorf("encode the chunk since %s: %w", c.since, err)
	}
	key := catalog.ChunkKey(a.opts.Prefix, c.since, c.until, a.opts.Encoding.Compression, a.opts.Encoding.Encryption())
	m, err := a.store(ctx, key, c)
	if err == nil {
		a.completed(ctx, key, m)
		return a.restartChunk(c.until, c.until, key, "")
	}
	if errors.Is(err, ErrLeaseLost) || a.lease.isLost() {
		return a.lease.lostErr()
	}
	a.removePartial(ctx, key)
	return fmt.Errorf("store chunk %s (%d entries): %w; nothing of it was left complete, and it is uploaded again", key, c.entries, err)
}

// store uploads the chunk's object and, once the lease is renewed, its manifest.
func (a *Archiver) store(ctx context.Context, key string, c *chunk) (catalog.ChunkManifest, error) {
	gctx, done := a.lease.guard(ctx)
	put, err := a.opts.Store.Put(gctx, key, bytes.NewReader(c.buf.Bytes()))
	done()
	if err != nil {
		return catalog.ChunkManifest{}, leaseCause(gctx, err)
	}
	if err := a.lease.renew(ctx); err != nil {
		return catalog.ChunkManifest{}, fmt.Errorf("renew the lease before the manifest: %w", err)
	}
	m := c.manifest(&a.opts, a.lease.epoch())
	m.Size, m.SHA256, m.WrittenAt = put.Size, put.SHA256, time.Now().UTC()
	mctx, done := a.lease.guard(ctx)
	defer done()
	return m, leaseCause(mctx, catalog.WriteChunkManifest(mctx, a.opts.Store, a.opts.Prefix, key, &m))
}

// leaseCause adds to err, when the lease's guard cancelled the write, why.
func leaseCause(gctx context.Context, err error) error {
	if err == nil || gctx.Err() == nil {
		return err
	}
	if cause := context.Cause(gctx); cause != nil && !errors.Is(err, cause) && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("%w (%w)", err, cause)
	}
	return err
}

// removePartial deletes what a failed upload may have stored: the object, and a
// manifest whose write failed only in its answer. Neither counts as complete without the
// other, so one left behind (the store refusing the delete too) is harmless: prune
// removes it later. It deletes nothing while the lease is not this archiver's.
func (a *Archiver) removePartial(ctx context.Context, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	gctx, done := a.lease.guard(dctx)
	defer done()
	if gctx.Err() != nil {
		a.log.Warn("left what a failed chunk upload stored (it stays incomplete and is never used): the lease is not renewed", "key", key)
		return
	}
	if err := a.opts.Store.Delete(gctx, catalog.ManifestKey(key), key); err != nil {
		a.log.Warn("could not delete what a failed chunk upload left (it stays incomplete and is never used)", "key", key, "error", err.Error())
	}
}

// completed records a chunk just made complete.
func (a *Archiver) completed(ctx context.Context, key string, m catalog.ChunkManifest) {
	a.status.update(func(s *Status) {
		s.LastArchived = m.Until
		s.Chunks++
		s.Bytes += m.Size
		s.Entries += m.Entries
		s.LastChunkAt = time.Now()
	})
	a.log.Info("chunk written", "key", key, "since", m.Since.String(), "until", m.Until.String(),
		"entries", m.Entries, "raw_size", m.RawSize, "size", m.Size)
	if g := a.status.get().OpenGap; g != nil {
		ok, err := a.gapResolved(ctx, g)
		switch {
		case err != nil:
			a.log.Warn("could not check for a base backup after the gap", "error", err.Error())
		case ok:
			a.log.Info("a base backup newer than the gap exists: restores to times after it are possible again", "gap_after", g.After.String())
			a.status.update(func(s *Status) { s.OpenGap = nil })
		}
	}
	a.updateIndex(ctx, nil)
	if a.opts.OnChunk != nil {
		a.opts.OnChunk(ChunkInfo{Key: key, Manifest: m})
	}
}

// updateIndex takes the chunks written since into the oplog folder's index (full: a
// catalog read whole, to build a missing index from). The chunk is complete without it —
// the index only spares readers its manifest — so a failure is logged, and the next chunk
// tries again.
func (a *Archiver) updateIndex(ctx context.Context, full *catalog.OplogCatalog) {
	gctx, done := a.lease.guard(ctx)
	defer done()
	res, err := catalog.UpdateOplogIndex(gctx, a.opts.Store, a.opts.Prefix, catalog.IndexUpdate{WrittenBy: "pitr", Full: full})
	switch {
	case err != nil:
		a.log.Warn("could not update the oplog index (readers read the chunks since from their manifests; the next chunk tries again)",
			"error", leaseCause(gctx, err).Error())
	case res.Rebuilt:
		a.log.Info("oplog index written", "segments", res.Segments)
	}
}

// shutdown, once Run's context has ended, reads what the oplog holds up to now and writes
// the last chunk, trying again until FlushTimeout.
func (a *Archiver) shutdown(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.FlushTimeout)
	defer cancel()
	delay := a.opts.RetryMin
	for a.cur != nil {
		err := a.finalPoll(fctx)
		if err == nil {
			break
		}
		a.status.failed(err)
		select {
		case <-fctx.Done():
			return fmt.Errorf("pitr stopped without storing its last chunk within %s (its entries are read again from the oplog at the next start): %w", a.opts.FlushTimeout, err)
		case <-time.After(delay):
			delay = min(2*delay, a.opts.RetryMax)
		}
	}
	st := a.Status()
	a.log.Info("pitr stopped", "last_archived", st.LastArchived.String(), "chunks", st.Chunks, "bytes", st.Bytes)
	return nil
}

// finalPoll stores a chunk left sealed (its upload failed, or the stop cut it), then
// waits a moment, for entries still being written with earlier timestamps, reads what
// the oplog holds after the chunk and writes it. The read gets half the flush timeout: a
// read cut short (a slow server: FerretDB reads its whole oplog for each query) leaves
// the chunk ending at the last entry it read, which is stored — nothing is lost, the
// entries after it stay in the oplog for the next start.
func (a *Archiver) finalPoll(ctx context.Context) error {
	if a.cur.sealed {
		if err := a.flush(ctx); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(min(a.opts.Poll, time.Second)):
	}
	rctx, cancel := context.WithTimeout(ctx, a.opts.FlushTimeout/2)
	err := a.archive(rctx, optime.Max)
	cutShort := err != nil && rctx.Err() != nil && ctx.Err() == nil
	cancel()
	switch {
	case cutShort:
		a.log.Warn("the last read of the oplog took too long and was cut short: storing what it read (the entries after it stay in the oplog and are archived at the next start)",
			"read_up_to", a.cur.until.String(), "after", (a.opts.FlushTimeout / 2).String())
	case err != nil:
		return err
	}
	return a.flush(ctx)
}
