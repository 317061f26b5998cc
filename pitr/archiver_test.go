package pitr

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestArchiverChunksHoldTheOplogExactly: while writes go on, the archiver writes chunks
// by size and by interval, and on shutdown the last one; together they are one chain
// whose chunks meet exactly and hold, byte for byte, every oplog entry of their range,
// up to the newest entry written before the shutdown. Each manifest records what its
// chunk holds.
func TestArchiverChunksHoldTheOplogExactly(t *testing.T) {
	for _, c := range []stream.Compression{stream.Zstd, stream.Gzip, stream.None} {
		t.Run(string(c), func(t *testing.T) {
			m := testenv.NewMongoWithOplog(t)
			s := mem.New()
			opts := archOptions(s)
			opts.Encoding = stream.Encoding{Compression: c}
			r := startArchiver(t, m.Client, opts)
			writeOps(t, m, "c", 0, 60)
			r.waitStatus(t, "a first chunk", func(st Status) bool { return st.Chunks >= 1 })
			writeOps(t, m, "c", 60, 60)
			last := newestEntry(t, m.Client)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			oc, cs := archived(t, s)
			if len(cs.Chains) != 1 || len(cs.Chains[0].Chunks) < 3 {
				t.Fatalf("want one chain of several chunks, got %+v", cs)
			}
			ch := cs.Chains[0]
			if ch.Until.Before(last) {
				t.Fatalf("the archive ends at %s, before the last write %s: the shutdown did not flush", ch.Until, last)
			}
			sameEntries(t, "chain", chainEntries(t, s, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
			var ops map[string]int64 = map[string]int64{}
			for _, k := range oc.Chunks {
				for op, n := range k.Manifest.Ops {
					ops[op] += n
				}
				if k.Manifest.Compression != c || k.Manifest.Tool != "mongostash" || k.Manifest.ChainStart == "" && k.Manifest.Previous == "" {
					t.Errorf("manifest of %s: %+v", k.Key, k.Manifest)
				}
			}
			if ops["i"] < 120 || ops["u"] < 40 || ops["d"] < 24 {
				t.Errorf("op counts %v: want at least the 120 inserts, 40 updates and 24 deletes", ops)
			}
			if st := r.a.Status(); st.Chunks != int64(len(oc.Chunks)) || st.LastArchived != ch.Until || st.Gaps != 0 {
				t.Errorf("status %+v does not match the %d chunks up to %s", st, len(oc.Chunks), ch.Until)
			}
		})
	}
}

// TestArchiverResumesExactly: an archiver stopped mid-stream and started again (the
// oplog growing meanwhile) continues the same chain from the end of its last complete
// chunk: the entries written while it was down are archived, none twice, none missing.
func TestArchiverResumesExactly(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	opts := archOptions(s)
	r := startArchiver(t, m.Client, opts)
	writeOps(t, m, "c", 0, 40)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	_, first := archived(t, s)
	end1, _ := first.Last()
	writeOps(t, m, "c", 40, 40) // while it is down
	r = startArchiver(t, m.Client, opts)
	writeOps(t, m, "c", 80, 40)
	last := newestEntry(t, m.Client)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, cs := archived(t, s)
	if len(cs.Chains) != 1 || len(oc.Gaps) != 0 {
		t.Fatalf("want one chain and no gap after a restart, got %+v", cs)
	}
	ch := cs.Chains[0]
	resumed := false
	for _, c := range ch.Chunks {
		if c.Since == end1 {
			resumed = c.Manifest.Previous != "" && c.Manifest.ChainStart == ""
		}
	}
	if !resumed || ch.Until.Before(last) {
		t.Fatalf("the second run did not continue from %s up to %s: %+v", end1, last, ch)
	}
	sameEntries(t, "chain across the restart", chainEntries(t, s, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
}

// TestArchiverUploadFailureLeavesNothing: a chunk upload that fails (the object stored
// but the answer lost), then a manifest write that fails, leave nothing complete and no
// debris: the archiver deletes what they stored, and uploads the same range again.
func TestArchiverUploadFailureLeavesNothing(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	base := mem.New()
	fs := &flakyStore{Store: base}
	fs.failOn = func(key string, n int) bool {
		isManifest := strings.HasSuffix(key, catalog.ManifestSuffix)
		return (n == 2 && !isManifest) || (n == 4 && isManifest)
	}
	opts := archOptions(fs)
	opts.RetryMin, opts.RetryMax = 2*time.Second, 2*time.Second // a window to look at the store
	r := startArchiver(t, m.Client, opts)
	stopWriting := keepWriting(t, m, "c", 0)
	for want := int64(1); want <= 2; want++ {
		st := r.waitStatus(t, "a failed upload", func(st Status) bool { return st.Failures >= want })
		failed := fs.failedKeys()[want-1]
		chunkKey := strings.TrimSuffix(failed, catalog.ManifestSuffix)
		for _, k := range []string{chunkKey, catalog.ManifestKey(chunkKey)} {
			if _, err := base.Get(context.Background(), k); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("after the failed upload of %s, %s is still stored (%v)", failed, k, err)
			}
		}
		if !strings.Contains(st.LastError, "test outage") {
			t.Errorf("status error %q does not say what failed", st.LastError)
		}
	}
	stopWriting()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, cs := archived(t, base)
	if len(cs.Chains) != 1 {
		t.Fatalf("want one chain, got %+v", cs)
	}
	for _, k := range fs.failedKeys() {
		k = strings.TrimSuffix(k, catalog.ManifestSuffix)
		found := false
		for _, c := range oc.Chunks {
			found = found || c.Key == k
		}
		if !found {
			t.Errorf("the range of the failed upload %s was not uploaded again under the same key", k)
		}
	}
	ch := cs.Chains[0]
	sameEntries(t, "chain after failed uploads", chainEntries(t, base, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
}

// TestArchiverGap: entries lost from the oplog while the archiver was down are found at
// the next start: a gap marker names the last archived entry and the oldest one left,
// the status counts the gap (and keeps it open: no base backup after it), and a new
// chain starts just before the oldest entry left and holds everything from there.
func TestArchiverGap(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	opts := archOptions(s)
	r := startArchiver(t, m.Client, opts)
	writeOps(t, m, "c", 0, 30)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	_, first := archived(t, s)
	end1, _ := first.Last()
	writeOps(t, m, "c", 30, 30)
	lost := oplogBetween(t, m.Client, end1, newestEntry(t, m.Client))
	trimTo, _ := oplog.EntryTimestamp(lost[len(lost)/2])
	if err := testenv.TrimOplog(context.Background(), m.Client, bson.Timestamp(trimTo)); err != nil {
		t.Fatal(err)
	}
	resume, _ := oplog.EntryTimestamp(lost[len(lost)/2+1])

	r = startArchiver(t, m.Client, opts)
	st := r.waitStatus(t, "the gap", func(st Status) bool { return st.Gaps == 1 })
	if st.OpenGap == nil || st.OpenGap.After != end1 || st.OpenGap.Resume != resume {
		t.Fatalf("status gap %+v, want after %s resume %s", st.OpenGap, end1, resume)
	}
	writeOps(t, m, "c", 60, 20)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, cs := archived(t, s)
	if len(oc.Gaps) != 1 || oc.Gaps[0].After != end1 || oc.Gaps[0].Resume != resume || oc.Gaps[0].Reason == "" {
		t.Fatalf("gap markers %+v, want one after %s resuming at %s", oc.Gaps, end1, resume)
	}
	if len(cs.Chains) != 2 || len(cs.Breaks) != 1 || cs.Breaks[0].Gap == nil {
		t.Fatalf("want two chains with the recorded gap between them, got %+v", cs)
	}
	second := cs.Chains[1]
	if second.Since != resume.Prev() || second.Chunks[0].Manifest.ChainStart == "" {
		t.Fatalf("the new chain starts at %s (%q), want just before %s", second.Since, second.Chunks[0].Manifest.ChainStart, resume)
	}
	sameEntries(t, "chain after the gap", chainEntries(t, s, second), oplogBetween(t, m.Client, second.Since, second.Until))
}

// TestChunkDecompressesWithStockZstd: a chunk is a plain zstd stream of the raw entries,
// so the stock `zstd -d` (in the machine image) gives exactly the bytes whose size and
// CRC-32C the manifest records — what `mongorestore --oplogReplay --oplogFile` then reads.
func TestChunkDecompressesWithStockZstd(t *testing.T) {
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Fatalf("zstd is part of the machine image but is missing: %v", err)
	}
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	r := startArchiver(t, m.Client, archOptions(s))
	writeOps(t, m, "c", 0, 20)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, _ := archived(t, s)
	if len(oc.Chunks) == 0 {
		t.Fatal("no chunk written")
	}
	for _, c := range oc.Chunks {
		rc, err := s.Get(context.Background(), c.Key)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("zstd", "-d", "-c")
		cmd.Stdin = rc
		plain, err := cmd.Output()
		rc.Close()
		if err != nil {
			t.Fatalf("zstd -d %s: %v", c.Key, err)
		}
		crc := catalog.FormatCRC32C(crc32.Checksum(plain, crc32.MakeTable(crc32.Castagnoli)))
		if int64(len(plain)) != c.Manifest.RawSize || crc != c.Manifest.CRC32C {
			t.Errorf("%s: zstd -d gave %d bytes (CRC-32C %s), the manifest says %d (%s)", c.Key, len(plain), crc, c.Manifest.RawSize, c.Manifest.CRC32C)
		}
	}
}

// TestArchiverWarnsOfSlowReads: a read of the oplog that takes longer than the pause
// between reads is warned about (here with a pause of 1 ms, which every read of a real
// server outlasts), once, not at every read.
func TestArchiverWarnsOfSlowReads(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	opts := archOptions(mem.New())
	opts.Poll = time.Millisecond
	var log lockedBuffer
	opts.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	r := startArchiver(t, m.Client, opts)
	writeOps(t, m, "c", 0, 20)
	r.waitStatus(t, "a chunk", func(s Status) bool { return s.Chunks >= 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "took longer than the poll interval"); n != 1 {
		t.Errorf("%d warnings of slow reads, want 1:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), `"poll_seconds":0.001`) {
		t.Errorf("the warning does not give the poll interval:\n%s", log.String())
	}
}

// lockedBuffer is a bytes.Buffer written by the archiver while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestArchiverStoppedDuringAnUploadStillFlushesTheRest: a stop that arrives while a full
// chunk is uploading (SIGTERM at any moment) cancels that upload; the shutdown stores the
// chunk again and then reads, and stores, everything the oplog holds after it — not only
// the chunk it was sending.
func TestArchiverStoppedDuringAnUploadStillFlushesTheRest(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	base := mem.New()
	bs := &blockingStore{Store: base, blocked: make(chan struct{})}
	r := startArchiver(t, m.Client, archOptions(bs))
	writeOps(t, m, "c", 0, 60)
	r.waitStatus(t, "a first chunk", func(st Status) bool { return st.Chunks >= 1 })
	bs.arm()
	writeOps(t, m, "c", 60, 120) // fills a chunk, whose upload then hangs
	select {
	case <-bs.blocked:
	case <-time.After(time.Minute):
		t.Fatal("no chunk upload began after the writes")
	}
	last := newestEntry(t, m.Client)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	_, cs := archived(t, base)
	if len(cs.Chains) != 1 {
		t.Fatalf("want one chain, got %+v", cs)
	}
	ch := cs.Chains[0]
	if ch.Until.Before(last) {
		t.Fatalf("the archive ends at %s, before the last write %s: the shutdown stored only the chunk whose upload the stop cut", ch.Until, last)
	}
	sameEntries(t, "chain", chainEntries(t, base, ch), oplogBetween(t, m.Client, ch.Since, ch.Until))
}

// blockingStore, once armed, holds the next Put of a chunk object until its context
// ends (a stop arriving mid-upload), then passes every Put.
type blockingStore struct {
	storage.Store
	mu      sync.Mutex
	armed   bool
	blocked chan struct{}
}

func (b *blockingStore) arm() { b.mu.Lock(); b.armed = true; b.mu.Unlock() }

func (b *blockingStore) Put(ctx context.Context, key string, r io.Reader) (storage.PutResult, error) {
	_, isChunk := catalog.ParseChunkKey(archPrefix, key)
	b.mu.Lock()
	hold := b.armed && isChunk
	if hold {
		b.armed = false
	}
	b.mu.Unlock()
	if !hold {
		return b.Store.Put(ctx, key, r)
	}
	close(b.blocked)
	<-ctx.Done()
	return storage.PutResult{}, ctx.Err()
}

func (b *blockingStore) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	return b.Store.(storage.ConditionalWriter).ReadTagged(ctx, key)
}

func (b *blockingStore) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	return b.Store.(storage.ConditionalWriter).PutIf(ctx, key, data, ifTag)
}
