package pitr

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
)

// cutStore is a store one archiver is cut off from on demand (a network partition): every
// call fails while cut, the others' calls go through to the same store.
type cutStore struct {
	*mem.Store
	off atomic.Bool
}

func (c *cutStore) err() error {
	if c.off.Load() {
		return errOutage
	}
	return nil
}

func (c *cutStore) Put(ctx context.Context, key string, r io.Reader) (storage.PutResult, error) {
	if err := c.err(); err != nil {
		return storage.PutResult{}, err
	}
	return c.Store.Put(ctx, key, r)
}

func (c *cutStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.Store.Get(ctx, key)
}

func (c *cutStore) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.Store.List(ctx, prefix)
}

func (c *cutStore) Delete(ctx context.Context, keys ...string) error {
	if err := c.err(); err != nil {
		return err
	}
	return c.Store.Delete(ctx, keys...)
}

func (c *cutStore) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	if err := c.err(); err != nil {
		return storage.Tagged{}, err
	}
	return c.Store.ReadTagged(ctx, key)
}

func (c *cutStore) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	if err := c.err(); err != nil {
		return "", err
	}
	return c.Store.PutIf(ctx, key, data, ifTag)
}

// TestArchiverOneArchiverPerPrefix: while an archiver holds the prefix, a second one is
// refused at once, naming the holder. Cut off from the store (a partition, while the
// oplog keeps growing), the first one stops writing; once its lease expired the second
// takes it over and archives; when the first can reach the store again it finds it lost
// the lease and stops with ErrLeaseLost, having written nothing since. The archive is one
// chain holding every entry once, the first holder's chunks all before the second's.
func TestArchiverOneArchiverPerPrefix(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	base := mem.New()
	cut := &cutStore{Store: base}
	const ttl = 2 * time.Second
	optsA := archOptions(cut)
	optsA.LeaseTTL = ttl
	rA := startArchiver(t, m.Client, optsA)
	writeOps(t, m, "c", 0, 30)
	rA.waitStatus(t, "a first chunk", func(s Status) bool { return s.Chunks >= 1 })

	optsB := archOptions(base)
	optsB.LeaseTTL = ttl
	second, err := New(context.Background(), m.Client, optsB)
	if err != nil {
		t.Fatal(err)
	}
	err = second.Run(context.Background())
	var held *LeaseHeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "expires at") {
		t.Fatalf("a second archiver on the prefix: %v, want a LeaseHeldError", err)
	}

	cut.off.Store(true)
	writeOps(t, m, "c", 30, 30) // the first archiver reads them, and cannot store them
	time.Sleep(ttl + 500*time.Millisecond)
	rB := startArchiver(t, m.Client, optsB)
	writeOps(t, m, "c", 60, 30)
	rB.waitStatus(t, "a chunk of the new holder", func(s Status) bool { return s.Chunks >= 1 })
	cut.off.Store(false)
	select {
	case err := <-rA.done:
		rA.done <- err
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("the first archiver ended with %v, want ErrLeaseLost", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the first archiver did not stop after losing its lease")
	}
	writeOps(t, m, "c", 90, 10)
	if err := rB.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, cs := archived(t, base)
	if len(cs.Chains) != 1 || len(oc.Superseded()) != 0 {
		t.Fatalf("want one chain and nothing superseded: %+v, superseded %v", cs, oc.Superseded())
	}
	var takeOver catalog.Chunk
	for _, c := range oc.Chunks {
		if c.Manifest.LeaseEpoch == 2 && (takeOver.Key == "" || c.Since.Before(takeOver.Since)) {
			takeOver = c
		}
	}
	for _, c := range oc.Chunks {
		if c.Manifest.LeaseEpoch == 1 && c.Until.After(takeOver.Since) {
			t.Errorf("the first holder's chunk %s ends after the second holder's start %s", c.Key, takeOver.Since)
		}
	}
	ch := cs.Chains[0]
	sameEntries(t, "chain across the take-over", chainEntries(t, base, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
}

// TestArchiverStopsDuringASlowRead: SIGTERM while reads of the oplog are slow (a FerretDB
// v1 reading a large oplog): the last read is cut short at half the flush timeout, what
// it read is stored, Run returns nil within the flush timeout; the next start archives the
// rest: one chain, nothing lost.
func TestArchiverStopsDuringASlowRead(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	opts := archOptions(s)
	opts.Interval, opts.FlushTimeout = time.Hour, 4*time.Second
	var slow *slowSource
	r := startWith(t, m.Client, opts, func(src oplogSource) oplogSource {
		slow = &slowSource{oplogSource: src}
		return slow
	})
	writeOps(t, m, "c", 0, 20)
	newest := newestEntry(t, m.Client)
	r.waitStatus(t, "the first writes read", func(s Status) bool { return !s.ReadUpTo.Before(newest) })
	slow.perEntry.Store(int64(300 * time.Millisecond))
	writeOps(t, m, "c", 20, 40) // about 60 entries: 18 s to read at that pace
	time.Sleep(700 * time.Millisecond)
	start := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatalf("stop during a slow read: %v", err)
	}
	if d := time.Since(start); d > opts.FlushTimeout+2*time.Second {
		t.Errorf("the stop took %s, more than the flush timeout %s", d, opts.FlushTimeout)
	}
	_, cs := archived(t, s)
	if last, _ := cs.Last(); !last.Before(newestEntry(t, m.Client)) || last.Before(newest) {
		t.Fatalf("the archive ends at %s: want what was read before the stop (at least %s), not everything", last, newest)
	}
	slow.perEntry.Store(0)
	r = startArchiver(t, m.Client, opts)
	all := newestEntry(t, m.Client)
	r.waitStatus(t, "the rest read", func(s Status) bool { return !s.ReadUpTo.Before(all) })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	_, cs = archived(t, s)
	if len(cs.Chains) != 1 {
		t.Fatalf("want one chain across the restart, got %+v", cs)
	}
	ch := cs.Chains[0]
	sameEntries(t, "chain across the stop", chainEntries(t, s, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
}

// TestArchiverChainFromTheOplogsFirstEntry: started on a new, empty oplog (FerretDB v1
// right after local.oplog.rs was created), the archiver starts its chain at the oplog's
// beginning, since the oplog never dropped an entry; a base backup taken at that empty
// oplog (consistent at 0,0) then has its recovery window.
func TestArchiverChainFromTheOplogsFirstEntry(t *testing.T) {
	_, url := testenv.PrivateFerretDB(t)
	m := testenv.ConnectMongo(t, url)
	testenv.CreateOplog(t, m)
	s := mem.New()
	r := startArchiver(t, m.Client, archOptions(s))
	writeOps(t, m, "c", 0, 30)
	newest := newestEntry(t, m.Client)
	r.waitStatus(t, "the writes archived", func(s Status) bool { return !s.LastArchived.Before(newest) })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, cs := archived(t, s)
	if len(cs.Chains) != 1 || !cs.Chains[0].Since.IsZero() || !strings.Contains(cs.Chains[0].Chunks[0].Manifest.ChainStart, "first entry") {
		t.Fatalf("want one chain from the oplog's beginning: %+v", cs)
	}
	sameEntries(t, "chain from the first entry", chainEntries(t, s, cs.Chains[0]), oplogBetween(t, m.Client, cs.Chains[0].Since, newest))
	bases := []catalog.BasePoint{{Key: "backup-at-an-empty-oplog", Oplog: true, EmptyOplog: true}}
	if ws := catalog.RecoveryWindows(bases, oc.BuildChains()); len(ws) != 1 || ws[0].To.Before(newest) {
		t.Fatalf("the base backup at the empty oplog has no window: %+v", ws)
	}
}
