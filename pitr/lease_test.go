package pitr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
)

// logBuffer is a slog destination tests read back.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func holderNamed(host string) catalog.LeaseHolder {
	h := newHolder("test")
	h.Host = host
	return h
}

// TestLeaseOneHolderAtATime: a second archiver is refused while the first holds the lease,
// with an error naming the holder and when the lease expires; once the first releases it
// the second takes it, one epoch later.
func TestLeaseOneHolderAtATime(t *testing.T) {
	s := mem.New()
	var log logBuffer
	a, err := acquireLease(t.Context(), s, "p/", holderNamed("first-host"), time.Minute, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	_, err = acquireLease(t.Context(), s, "p/", holderNamed("second-host"), time.Minute, log.logger())
	var held *LeaseHeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second acquire: %v, want a LeaseHeldError", err)
	}
	msg := err.Error()
	for _, want := range []string{"first-host", "pid", "expires at", held.Lease.ExpiresAt.UTC().Format(time.RFC3339), "p/oplog/lease.json"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not say %q: %s", want, msg)
		}
	}
	if until := time.Until(held.Lease.ExpiresAt); until < 50*time.Second || until > time.Minute {
		t.Errorf("the lease expires in %s, want about a minute", until)
	}
	a.release(t.Context())
	b, err := acquireLease(t.Context(), s, "p/", holderNamed("second-host"), time.Minute, log.logger())
	if err != nil {
		t.Fatalf("acquire after the release: %v", err)
	}
	if b.epoch() != a.epoch()+1 {
		t.Errorf("epochs %d then %d, want one more", a.epoch(), b.epoch())
	}
	if err := a.renew(t.Context()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the released holder renewed: %v", err)
	}
}

// TestLeaseTakeOverAfterExpiry: a holder that stops renewing (cut off, or paused) loses
// the lease to another archiver once it expired. From then on its writes' guards are
// cancelled at once, its next renewal fails naming the new holder, and its lost channel
// is closed; the new holder renews as usual.
func TestLeaseTakeOverAfterExpiry(t *testing.T) {
	s := mem.New()
	var log logBuffer
	const ttl = 400 * time.Millisecond
	a, err := acquireLease(t.Context(), s, "", holderNamed("old"), ttl, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquireLease(t.Context(), s, "", holderNamed("new"), ttl, log.logger()); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("taken before its expiry: %v", err)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	b, err := acquireLease(t.Context(), s, "", holderNamed("new"), ttl, log.logger())
	if err != nil {
		t.Fatalf("take-over after the expiry: %v", err)
	}
	if !strings.Contains(log.String(), "taking over the lease") || !strings.Contains(log.String(), "former_holder") {
		t.Errorf("the take-over is not logged:\n%s", log.String())
	}
	err = a.renew(t.Context())
	if !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "host new") {
		t.Fatalf("the old holder's renewal: %v, want ErrLeaseLost naming the new holder", err)
	}
	if !a.isLost() {
		t.Error("lost channel not closed")
	}
	gctx, done := a.guard(context.Background())
	defer done()
	if !errors.Is(context.Cause(gctx), ErrLeaseLost) {
		t.Errorf("a guard after the loss: %v", context.Cause(gctx))
	}
	if err := b.renew(t.Context()); err != nil {
		t.Errorf("the new holder's renewal: %v", err)
	}
}

// TestLeaseGuardStopsUnrenewedWrites: a write in progress is cancelled once the lease went
// unrenewed for half its time to live, and a renewal lets writes go on again.
func TestLeaseGuardStopsUnrenewedWrites(t *testing.T) {
	var log logBuffer
	const ttl = 400 * time.Millisecond
	l, err := acquireLease(t.Context(), mem.New(), "", holderNamed("h"), ttl, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	gctx, done := l.guard(context.Background())
	defer done()
	select {
	case <-gctx.Done():
		if !errors.Is(context.Cause(gctx), errLeaseStale) {
			t.Fatalf("cancelled with %v", context.Cause(gctx))
		}
	case <-time.After(ttl):
		t.Fatal("the guard was not cancelled after half the time to live")
	}
	if err := l.renew(t.Context()); err != nil {
		t.Fatal(err)
	}
	g2, done2 := l.guard(context.Background())
	defer done2()
	if g2.Err() != nil {
		t.Fatalf("a guard right after a renewal is cancelled: %v", context.Cause(g2))
	}
	// A renewal while a guard waits extends it.
	time.Sleep(ttl / 4)
	if err := l.renew(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl / 3)
	if g2.Err() != nil {
		t.Fatal("a renewal did not extend the guard of a write in progress")
	}
}

// ignoringStore implements ConditionalWriter but, like some S3-compatible stores, ignores
// the conditions: every PutIf writes.
type ignoringStore struct{ *mem.Store }

func (s ignoringStore) PutIf(ctx context.Context, key string, data []byte, _ string) (string, error) {
	if _, err := s.Store.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return "", err
	}
	t, err := s.Store.ReadTagged(ctx, key)
	return t.Tag, err
}

// plainStore hides the store's conditional writes.
type plainStore struct{ storage.Store }

// TestLeaseBestEffort: a store that ignores conditions is found out at the start and said
// so in the log; a store without conditional writes is said so too; on both the lease
// still keeps a second archiver off while it is held (read, then write).
func TestLeaseBestEffort(t *testing.T) {
	for name, s := range map[string]storage.Store{"ignores conditions": ignoringStore{mem.New()}, "no conditional writes": plainStore{mem.New()}} {
		t.Run(name, func(t *testing.T) {
			var log logBuffer
			l, err := acquireLease(t.Context(), s, "", holderNamed("h"), time.Minute, log.logger())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "best effort") {
				t.Errorf("no best-effort warning:\n%s", log.String())
			}
			if _, err := acquireLease(t.Context(), s, "", holderNamed("other"), time.Minute, log.logger()); !errors.Is(err, ErrLeaseHeld) {
				t.Errorf("second acquire: %v", err)
			}
			if err := l.renew(t.Context()); err != nil {
				t.Errorf("renew: %v", err)
			}
		})
	}
	var log logBuffer
	if _, err := acquireLease(t.Context(), mem.New(), "", holderNamed("h"), time.Minute, log.logger()); err != nil || strings.Contains(log.String(), "best effort") {
		t.Errorf("a store that honours conditions: %v\n%s", err, log.String())
	}
}
