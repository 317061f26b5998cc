package pitr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

// archPrefix is the prefix the archiver tests write under.
const archPrefix = "pitr-tests/"

// archOptions are quick options for tests: short polls and retries, small chunks.
func archOptions(s storage.Store) Options {
	return Options{
		Store: s, Prefix: archPrefix, Interval: 400 * time.Millisecond, ChunkSize: 8 << 10,
		Poll: 50 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		FlushTimeout: 20 * time.Second, ToolVersion: "test",
		Logger: slog.New(slog.NewTextHandler(testLog{}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// testLog sends the archiver's log to stderr only with -v, where it helps; go test shows
// stderr of failing tests anyway.
type testLog struct{}

func (testLog) Write(p []byte) (int, error) {
	if testing.Verbose() {
		return os.Stderr.Write(p)
	}
	return len(p), nil
}

// slowSource is the archiver's oplog source with reads slowed down on demand: each entry
// a range read returns waits perEntry (a FerretDB v1 reading a large oplog).
type slowSource struct {
	oplogSource
	perEntry atomic.Int64 // nanoseconds
}

func (s *slowSource) ReadRange(ctx context.Context, from, to optime.Timestamp, batch int32, fn func(bson.Raw) error) error {
	return s.oplogSource.ReadRange(ctx, from, to, batch, func(raw bson.Raw) error {
		if d := time.Duration(s.perEntry.Load()); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		return fn(raw)
	})
}

// running is an archiver's Run in the background.
type running struct {
	a      *Archiver
	cancel context.CancelFunc
	done   chan error
}

func startArchiver(t *testing.T, client *mongo.Client, opts Options) *running {
	t.Helper()
	return startWith(t, client, opts, nil)
}

// startWith is startArchiver, with the archiver's source first changed by wrap (if not nil).
func startWith(t *testing.T, client *mongo.Client, opts Options, wrap func(oplogSource) oplogSource) *running {
	t.Helper()
	a, err := New(context.Background(), client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		a.src = wrap(a.src)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop ends Run's context as SIGTERM does, and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context's end")
		return nil
	}
}

// waitStatus polls the archiver's status until ok says yes.
func (r *running) waitStatus(t *testing.T, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := r.a.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeOps makes n changes in db.coll: inserts, with an update of every third document
// and a delete of every fifth, so that chunks hold every kind of CRUD entry.
func writeOps(t *testing.T, m *testenv.Mongo, coll string, from, n int) {
	t.Helper()
	if err := changeDocs(m, coll, from, n); err != nil {
		t.Fatal(err)
	}
}

func changeDocs(m *testenv.Mongo, coll string, from, n int) error {
	ctx := context.Background()
	c := m.Client.Database(m.DB).Collection(coll)
	for i := from; i < from+n; i++ {
		if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: bytes.Repeat([]byte{'x'}, 100)}}); err != nil {
			return err
		}
		if i%3 == 0 {
			if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, bson.D{{Key: "$set", Value: bson.D{{Key: "u", Value: i}}}}); err != nil {
				return err
			}
		}
		if i%5 == 0 {
			if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
				return err
			}
		}
	}
	return nil
}

func newestEntry(t *testing.T, client *mongo.Client) optime.Timestamp {
	t.Helper()
	src, err := oplog.OpenSource(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	ts, ok, err := src.Newest(context.Background())
	if err != nil || !ok {
		t.Fatalf("newest oplog entry: %v %v", ok, err)
	}
	return ts
}

// oplogBetween is what the oplog holds in (after, upTo], as the server wrote it.
func oplogBetween(t *testing.T, client *mongo.Client, after, upTo optime.Timestamp) []bson.Raw {
	t.Helper()
	src, err := oplog.OpenSource(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.Raw
	err = src.ReadRange(context.Background(), after, upTo, 1000, func(raw bson.Raw) error {
		if ts, _ := oplog.EntryTimestamp(raw); ts.After(after) {
			out = append(out, append(bson.Raw(nil), raw...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storedEntries reads a complete chunk back on its own (not with the package's reader,
// which has tests of its own) and checks it against its manifest: size and SHA-256 of
// the object, size and CRC-32C of the plain bytes, entry count, range, first and last.
func storedEntries(t *testing.T, s storage.Store, c catalog.Chunk) []bson.Raw {
	t.Helper()
	m := c.Manifest
	rc, err := s.Get(context.Background(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != m.Size || hex.EncodeToString(sum[:]) != m.SHA256 {
		t.Fatalf("%s: %d bytes with SHA-256 %x; the manifest says %d and %s", c.Key, len(data), sum, m.Size, m.SHA256)
	}
	plain := data
	if m.Compression != stream.None {
		zr, _, err := stream.Open(bytes.NewReader(data), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.Key, err)
		}
		if plain, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", c.Key, err)
		}
	}
	if int64(len(plain)) != m.RawSize || catalog.FormatCRC32C(crc32.Checksum(plain, crc32.MakeTable(crc32.Castagnoli))) != m.CRC32C {
		t.Fatalf("%s: %d plain bytes, manifest says %d (or the CRC-32C differs)", c.Key, len(plain), m.RawSize)
	}
	var docs []bson.Raw
	for len(plain) > 0 {
		n := int(binary.LittleEndian.Uint32(plain))
		docs = append(docs, bson.Raw(plain[:n]))
		plain = plain[n:]
	}
	if int64(len(docs)) != m.Entries {
		t.Fatalf("%s: %d entries, manifest says %d", c.Key, len(docs), m.Entries)
	}
	if len(docs) > 0 {
		first, _ := oplog.EntryTimestamp(docs[0])
		last, _ := oplog.EntryTimestamp(docs[len(docs)-1])
		if first != m.First || last != m.Last || !m.Since.Before(first) || m.Until.Before(last) {
			t.Fatalf("%s: entries %s to %s, manifest first %s last %s range %s-%s", c.Key, first, last, m.First, m.Last, m.Since, m.Until)
		}
	}
	return docs
}

// archived reads the oplog catalog and checks that it is one clean chain or more: every
// chunk complete, none redundant; and that the archiver kept the folder's index: the read
// goes through it and finds what a whole read finds. It returns the chains.
func archived(t *testing.T, s storage.Store) (*catalog.OplogCatalog, catalog.Chains) {
	t.Helper()
	oc, err := catalog.ReadOplogCatalog(context.Background(), s, archPrefix)
	if err != nil {
		t.Fatal(err)
	}
	full, err := catalog.ReadOplogCatalogFull(context.Background(), s, archPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !oc.Index.Used || len(oc.Chunks) != len(full.Chunks) || len(oc.Gaps) != len(full.Gaps) {
		t.Fatalf("the index read (%+v) found %d chunks and %d gaps, the whole read %d and %d", oc.Index, len(oc.Chunks), len(oc.Gaps), len(full.Chunks), len(full.Gaps))
	}
	for i := range oc.Chunks {
		if a, b := oc.Chunks[i], full.Chunks[i]; a.Key != b.Key || a.Complete() != b.Complete() || (a.Manifest == nil) != (b.Manifest == nil) ||
			(a.Manifest != nil && a.Manifest.SHA256 != b.Manifest.SHA256) {
			t.Fatalf("chunk %d: the index read has %s (complete %v), the whole read %s (complete %v)", i, a.Key, a.Complete(), b.Key, b.Complete())
		}
	}
	if inc := oc.Incomplete(); len(inc) > 0 || len(oc.OrphanManifests) > 0 || len(oc.Ignored) > 0 {
		t.Fatalf("incomplete chunks %v, orphan manifests %v, other objects %v", inc, oc.OrphanManifests, oc.Ignored)
	}
	cs := oc.BuildChains()
	if len(cs.Redundant) > 0 {
		t.Fatalf("redundant chunks: %v", cs.Redundant)
	}
	for _, ch := range cs.Chains {
		for i := 1; i < len(ch.Chunks); i++ {
			if ch.Chunks[i].Since != ch.Chunks[i-1].Until {
				t.Fatalf("chunk %s does not start where %s ends", ch.Chunks[i].Key, ch.Chunks[i-1].Key)
			}
		}
	}
	return oc, cs
}

// chainEntries is every entry the chunks of ch hold, in order.
func chainEntries(t *testing.T, s storage.Store, ch catalog.Chain) []bson.Raw {
	t.Helper()
	var out []bson.Raw
	for _, c := range ch.Chunks {
		out = append(out, storedEntries(t, s, c)...)
	}
	return out
}

// sameEntries fails unless got and want are the same entries, byte for byte.
func sameEntries(t *testing.T, what string, got, want []bson.Raw) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries archived, the oplog holds %d", what, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: entry %d differs:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
}

// flakyStore fails chosen Puts of chunks and their manifests once each, as an S3 outage
// would; for a chunk object it first stores what it read, as an upload whose answer was
// lost leaves an object. The index's writes pass.
type flakyStore struct {
	storage.Store
	mu     sync.Mutex
	failOn func(key string, n int) bool // n: Puts of this kind (object or manifest) so far
	puts   map[bool]int                 // by "is a manifest"
	failed []string
}

func (f *flakyStore) Put(ctx context.Context, key string, r io.Reader) (storage.PutResult, error) {
	if _, ok := catalog.ParseChunkKey(archPrefix, strings.TrimSuffix(key, catalog.ManifestSuffix)); !ok {
		return f.Store.Put(ctx, key, r)
	}
	f.mu.Lock()
	if f.puts == nil {
		f.puts = map[bool]int{}
	}
	isManifest := strings.HasSuffix(key, catalog.ManifestSuffix)
	f.puts[isManifest]++
	fail := f.failOn(key, f.puts[isManifest])
	if fail {
		f.failed = append(f.failed, key)
	}
	f.mu.Unlock()
	if !fail {
		return f.Store.Put(ctx, key, r)
	}
	if _, err := f.Store.Put(ctx, key, r); err != nil {
		return storage.PutResult{}, err
	}
	return storage.PutResult{}, errOutage
}

// ReadTagged and PutIf pass the lease's conditional writes to the store underneath,
// without counting them as Puts.
func (f *flakyStore) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	return f.Store.(storage.ConditionalWriter).ReadTagged(ctx, key)
}

func (f *flakyStore) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	return f.Store.(storage.ConditionalWriter).PutIf(ctx, key, data, ifTag)
}

func (f *flakyStore) failedKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.failed...)
}

var errOutage = &outageError{}

type outageError struct{}

func (*outageError) Error() string { return "connection reset by peer (test outage)" }

// keepWriting makes changes in db.coll in the background, ten at a time, until the
// returned function is called; that returns how many were made.
func keepWriting(t *testing.T, m *testenv.Mongo, coll string, from int) func() int {
	t.Helper()
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		i := from
		for {
			select {
			case <-stop:
				done <- i - from
				return
			default:
			}
			if err := changeDocs(m, coll, i, 10); err != nil {
				t.Errorf("background writes: %v", err)
				<-stop
				done <- i - from
				return
			}
			i += 10
		}
	}()
	return func() int {
		close(stop)
		return <-done
	}
}
