package pitr

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/storage"
)

// One archiver per prefix: the lease (docs/pitr.md, "One archiver per prefix").
//
// The holder writes catalog.LeaseKey with conditional writes only — if absent to take a
// free prefix, if unchanged since its own last write to renew — every renewEvery (a
// quarter of the time to live), and right before each chunk's manifest, the write that
// makes a chunk complete. Every other write of the holder runs under a guard: a context
// cancelled when the lease is lost, and when it went unrenewed for half its time to live,
// so that a holder cut off from the store, or paused, stops writing long before another
// archiver may take the lease over (at its expiry, by the taker's clock). What could still
// land late — a request held up in the network past its cancellation, clocks apart by
// more than half the time to live — the lease's epoch settles: each manifest records it,
// and the catalog takes no chunk of an older epoch that reaches into the range a newer
// one has begun to write (catalog.OplogCatalog.markSuperseded).

// DefaultLeaseTTL is how long a lease lasts unrenewed.
const DefaultLeaseTTL = 2 * time.Minute

var (
	// ErrLeaseHeld is wrapped by Run's error when another archiver holds the prefix's
	// lease (a *LeaseHeldError says who, and until when).
	ErrLeaseHeld = errors.New("pitr: another archiver holds the lease of this prefix")
	// ErrLeaseLost is wrapped by Run's error when another archiver took the lease over.
	ErrLeaseLost = errors.New("pitr: another archiver took the lease of this prefix over")
	// errLeaseStale cancels the holder's writes while its lease goes unrenewed.
	errLeaseStale = errors.New("pitr: the lease could not be renewed for half its time to live: writes wait until it is")
)

// LeaseHeldError says which archiver holds a prefix's lease.
type LeaseHeldError struct {
	Key   string
	Lease catalog.Lease
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("another mongostash pitr holds the lease %s (%s), renewed %s: it expires at %s unless renewed; "+
		"two archivers on one prefix would write overlapping chains, so this one does not start "+
		"(one archiver per prefix: a Deployment with one replica and strategy Recreate)",
		e.Key, e.Lease.Holder, e.Lease.RenewedAt.UTC().Format(time.RFC3339), e.Lease.ExpiresAt.UTC().Format(time.RFC3339))
}

func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// lease is a lease this process holds.
type lease struct {
	cw   storage.ConditionalWriter
	key  string
	ttl  time.Duration
	log  *slog.Logger
	lost chan struct{} // closed when the lease is lost

	mu       sync.Mutex
	rec      catalog.Lease
	tag      string
	fresh    time.Time // when the last successful write of the record was sent
	err      error     // why the lease is lost, once it is
	renewErr error     // why the last renewal failed, until one succeeds
	guards   map[*guard]struct{}
}

// guard is a context of the holder's writes, cancelled when the lease goes stale or is lost.
type guard struct {
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

// newHolder names this process.
func newHolder(version string) catalog.LeaseHolder {
	host, _ := os.Hostname()
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return catalog.LeaseHolder{Host: host, PID: os.Getpid(), Started: time.Now().UTC(), Version: version, ID: hex.EncodeToString(id)}
}

// acquireLease takes the lease of prefix for holder, or fails with a *LeaseHeldError. A
// store that cannot write conditionally gets a best effort, said in the log.
func acquireLease(ctx context.Context, s storage.Store, prefix string, holder catalog.LeaseHolder, ttl time.Duration, log *slog.Logger) (*lease, error) {
	cw, ok := s.(storage.ConditionalWriter)
	if !ok {
		log.Warn("the store cannot write conditionally: the lease that keeps a second archiver off this prefix is a best effort "+
			"(read, then write): make sure only one mongostash pitr runs per prefix", "store", s.String())
		cw = unconditional{s}
	}
	l := &lease{cw: cw, key: catalog.LeaseKey(prefix), ttl: ttl, log: log, lost: make(chan struct{}), guards: map[*guard]struct{}{}}
	for range 3 { // a race lost to another taker is read again
		cur, err := cw.ReadTagged(ctx, l.key)
		epoch, tag := uint64(1), ""
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("read the lease: %w", err)
		default:
			old, err := catalog.DecodeLease(cur.Data)
			if err != nil {
				return nil, fmt.Errorf("the lease %s: %w (if no mongostash pitr runs on this prefix, delete it)", l.key, err)
			}
			if !old.Free(time.Now()) {
				return nil, &LeaseHeldError{Key: l.key, Lease: old}
			}
			epoch, tag = old.Epoch+1, cur.Tag
			log.Info("taking over the lease", "key", l.key, "former_holder", old.Holder.String(), "released", old.Released,
				"expired_at", old.ExpiresAt.UTC().Format(time.RFC3339), "epoch", epoch)
		}
		l.rec = catalog.Lease{Holder: holder, Epoch: epoch}
		err = l.write(ctx, tag)
		if errors.Is(err, storage.ErrPrecondition) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("take the lease %s: %w", l.key, err)
		}
		if ok {
			l.probe(ctx)
		}
		log.Info("lease taken", "key", l.key, "epoch", epoch, "ttl", ttl.String())
		return l, nil
	}
	return nil, fmt.Errorf("take the lease %s: other archivers keep taking it at the same time", l.key)
}

// write stores the record, renewed, if the stored one still has tag ("": if absent).
func (l *lease) write(ctx context.Context, tag string) error {
	rec := l.rec
	rec.Renewals++
	sent := time.Now()
	rec.RenewedAt, rec.ExpiresAt = sent.UTC(), sent.Add(l.ttl).UTC()
	data, err := catalog.EncodeLease(rec)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, l.ttl/4)
	defer cancel()
	newTag, err := l.cw.PutIf(wctx, l.key, data, tag)
	if err != nil {
		return err
	}
	l.rec, l.tag, l.fresh = rec, newTag, sent
	for g := range l.guards {
		g.timer.Reset(l.ttl / 2)
	}
	return nil
}

// probe checks that the store honours conditions: a write if absent of the lease just
// written must be refused. A store that ignores the headers (some S3-compatible ones)
// writes it; the lease is then a best effort, and the log says so.
func (l *lease) probe(ctx context.Context) {
	err := l.write(ctx, "")
	switch {
	case errors.Is(err, storage.ErrPrecondition):
	case err == nil:
		l.log.Warn("the store ignores conditional writes (it overwrote an object written if absent): the lease that keeps a second "+
			"archiver off this prefix is a best effort; make sure only one mongostash pitr runs per prefix", "key", l.key)
	default:
		l.log.Warn("could not check that the store honours conditional writes", "key", l.key, "error", err.Error())
	}
}

// renew writes the record again if it is still the one this process wrote last: the
// check before each manifest, and the periodic renewal. It returns an error wrapping
// ErrLeaseLost once another archiver holds the lease; other errors (the store's) leave
// the lease to the next attempt.
func (l *lease) renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	err := l.write(ctx, l.tag)
	l.renewErr = err
	if !errors.Is(err, storage.ErrPrecondition) {
		return err
	}
	// A write whose answer was lost may have landed: then the record is ours, newer.
	cur, rerr := l.cw.ReadTagged(ctx, l.key)
	if rerr == nil {
		if rec, derr := catalog.DecodeLease(cur.Data); derr == nil && rec.Holder.ID == l.rec.Holder.ID && !rec.Released {
			l.tag = cur.Tag
			if err = l.write(ctx, l.tag); !errors.Is(err, storage.ErrPrecondition) {
				l.renewErr = err
				return err
			}
		}
	}
	l.loseLocked(ctx)
	return l.err
}

// loseLocked marks the lease lost, naming the new holder when it can, and stops every
// write in progress. l.mu is held.
func (l *lease) loseLocked(ctx context.Context) {
	who := "the lease was deleted"
	if cur, err := l.cw.ReadTagged(ctx, l.key); err == nil {
		if rec, err := catalog.DecodeLease(cur.Data); err == nil {
			who = fmt.Sprintf("now held by %s, epoch %d", rec.Holder, rec.Epoch)
		}
	}
	l.err = fmt.Errorf("%w: %s (%s); this archiver stops writing at once", ErrLeaseLost, l.key, who)
	for g := range l.guards {
		g.cancel(l.err)
	}
	close(l.lost)
}

// renewFailure is why the last renewal failed, nil once one succeeded.
func (l *lease) renewFailure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewErr
}

// keep renews the lease every quarter of its time to live until ctx ends or it is lost;
// failed is told of each renewal that failed (the store's error).
func (l *lease) keep(ctx context.Context, failed func(error)) {
	t := time.NewTicker(l.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.lost:
			return
		case <-t.C:
		}
		if err := l.renew(ctx); err != nil && !errors.Is(err, ErrLeaseLost) && ctx.Err() == nil {
			l.log.Warn("could not renew the lease (tried again shortly; writes stop once it is half its time to live old)",
				"key", l.key, "error", err.Error())
			failed(fmt.Errorf("renew the lease %s: %w", l.key, err))
		}
	}
}

// guard returns a context for one write of the holder: cancelled with the lease's loss,
// or once the lease went unrenewed for half its time to live.
func (l *lease) guard(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	l.mu.Lock()
	defer l.mu.Unlock()
	left := l.ttl/2 - time.Since(l.fresh)
	switch {
	case l.err != nil:
		cancel(l.err)
		return ctx, func() { cancel(nil) }
	case left <= 0:
		cancel(errLeaseStale)
		return ctx, func() { cancel(nil) }
	}
	g := &guard{cancel: cancel}
	g.timer = time.AfterFunc(left, func() { cancel(errLeaseStale) })
	l.guards[g] = struct{}{}
	return ctx, func() {
		l.mu.Lock()
		delete(l.guards, g)
		l.mu.Unlock()
		g.timer.Stop()
		cancel(nil)
	}
}

// epoch is the lease's epoch, recorded in each chunk manifest.
func (l *lease) epoch() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Epoch
}

// release frees the lease for the next archiver, at a clean stop.
func (l *lease) release(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.rec.Released = true
	if err := l.write(ctx, l.tag); err != nil {
		l.log.Warn("could not release the lease: the next archiver waits for it to expire", "key", l.key,
			"expires_at", l.rec.ExpiresAt.Format(time.RFC3339), "error", err.Error())
		return
	}
	l.log.Info("lease released", "key", l.key)
}

// unconditional is the lease on a store without conditional writes: the condition is
// checked by reading before writing, so two archivers starting at the same moment can both
// believe they hold it — the best effort docs/pitr.md describes. Its tags are content
// hashes (the record changes at every write).
type unconditional struct{ s storage.Store }

func (u unconditional) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	r, err := u.s.Get(ctx, key)
	if err != nil {
		return storage.Tagged{}, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return storage.Tagged{}, err
	}
	sum := sha256.Sum256(data)
	return storage.Tagged{Data: data, Tag: hex.EncodeToString(sum[:])}, nil
}

func (u unconditional) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	cur, err := u.ReadTagged(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound) && ifTag == "":
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return "", err
	case err != nil || cur.Tag != ifTag:
		return "", fmt.Errorf("write %s: %w", key, storage.ErrPrecondition)
	}
	res, err := u.s.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	return res.SHA256, nil
}

// isLost reports whether the lease was lost.
func (l *lease) isLost() bool {
	select {
	case <-l.lost:
		return true
	default:
		return false
	}
}

// lostErr is why the lease was lost (wrapping ErrLeaseLost).
func (l *lease) lostErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
