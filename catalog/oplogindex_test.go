package catalog

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

// countingStore counts the reads of a store (the S3 store's requests are counted by the
// benchmarks; here the catalog's calls are).
type countingStore struct {
	*mem.Store
	gets, lists atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *countingStore) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, prefix)
}

func (c *countingStore) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	c.gets.Add(1)
	return c.Store.ReadTagged(ctx, key)
}

// chainOf stores n complete chunks of one chain from second 0 on, one second each.
func chainOf(t *testing.T, s *mem.Store, prefix string, from, n int) []string {
	t.Helper()
	var keys []string
	for i := from; i < from+n; i++ {
		keys = append(keys, putChunk(t, s, prefix, ts(uint32(i), 1), ts(uint32(i+1), 1), true))
	}
	return keys
}

// sameCatalog compares what two reads of a folder found, but how they read it.
func sameCatalog(t *testing.T, got, want *OplogCatalog) {
	t.Helper()
	norm := func(c *OplogCatalog) string {
		var b strings.Builder
		for _, ch := range c.Chunks {
			fmt.Fprintf(&b, "chunk %s %d %v %v %+v %v\n", ch.Key, ch.Size, ch.HasManifest, ch.Complete(), ch.Manifest, ch.ManifestErr != nil)
		}
		for _, g := range c.Gaps {
			fmt.Fprintf(&b, "gap %s %s\n", g.Key, g.Reason)
		}
		for _, list := range [][]storage.Object{c.OrphanManifests, c.Ignored} {
			for _, o := range list {
				fmt.Fprintf(&b, "object %s %d\n", o.Key, o.Size)
			}
		}
		return b.String()
	}
	if g, w := norm(got), norm(want); g != w {
		t.Fatalf("the index read differs from the whole read:\n got %s\nwant %s", g, w)
	}
}

// TestOplogIndexReadsOnlyWhatCameAfter: 2,500 chunks in two chains, and between them a
// gap marker, an incomplete chunk and an orphan manifest of long ago, an object not ours. Once indexed, a read gets the
// head and three segments and lists once, and reads the manifests of the three chunks
// written since and nothing else — and finds exactly what a whole read finds.
func TestOplogIndexReadsOnlyWhatCameAfter(t *testing.T) {
	base := mem.New()
	s := &countingStore{Store: base}
	const p = "p/"
	ctx := t.Context()
	chainOf(t, base, p, 0, 1200)
	if _, err := WriteGapMarker(ctx, base, p, &GapMarker{After: ts(1200, 1), Resume: ts(1300, 1), DetectedAt: ts(1300, 0).Time(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	old := putChunk(t, base, p, ts(1250, 0), ts(1251, 1), false)
	base.SetBytes(ManifestKey(ChunkKey(p, ts(1251, 1), ts(1251, 2), stream.Zstd, stream.Unencrypted)), []byte("{}"))
	base.SetBytes(p+"oplog/"+stamp(ts(1260, 0))+"-not-ours", []byte("x"))
	chainOf(t, base, p, 1300, 1300)
	now := time.Now().Add(2 * time.Hour) // the incomplete chunk is not an upload in progress
	res, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{WrittenBy: "test", Now: now})
	if err != nil || !res.Rebuilt || res.Segments != 3 || res.Written != 3 {
		t.Fatalf("first update: %+v %v", res, err)
	}
	chainOf(t, base, p, 2600, 3)
	s.gets.Store(0)
	s.lists.Store(0)
	c, err := ReadOplogCatalog(ctx, s, p)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Index.Used || c.Index.Segments != 3 || c.Index.Fallback != "" {
		t.Fatalf("index use: %+v", c.Index)
	}
	if g, l := s.gets.Load(), s.lists.Load(); g != 1+3+3 || l != 1 {
		t.Errorf("the read made %d gets and %d lists, want 7 (head, 3 segments, 3 new manifests) and 1", g, l)
	}
	full, err := ReadOplogCatalogFull(ctx, base, p)
	if err != nil {
		t.Fatal(err)
	}
	sameCatalog(t, c, full)
	if n := len(c.Complete()); n != 2503 {
		t.Errorf("%d complete chunks, want 2503", n)
	}
	if len(c.Incomplete()) != 1 || c.Incomplete()[0].Key != old || len(c.OrphanManifests) != 1 || len(c.Ignored) != 1 || len(c.Gaps) != 1 {
		t.Errorf("strays: incomplete %v orphans %v ignored %v gaps %v", c.Incomplete(), c.OrphanManifests, c.Ignored, c.Gaps)
	}
	// The next update takes the three in, writing the last segment only.
	res, err = UpdateOplogIndex(ctx, s, p, IndexUpdate{WrittenBy: "test", Now: now})
	if err != nil || res.Rebuilt || res.Written != 1 || res.Segments != 3 {
		t.Fatalf("second update: %+v %v", res, err)
	}
}

// TestOplogIndexDamagedIsReadWhole: a segment changed, or gone, or a head that is not JSON:
// the read falls back to reading the folder whole, says why, and finds what is there; the
// next update builds the index again.
func TestOplogIndexDamagedIsReadWhole(t *testing.T) {
	const p = ""
	for name, damage := range map[string]func(s *mem.Store, c *OplogCatalog){
		"segment changed": func(s *mem.Store, c *OplogCatalog) {
			k := c.index.head.Segments[0].Key
			b, _ := s.Bytes(k)
			s.SetBytes(k, append(b, ' '))
		},
		"segment gone": func(s *mem.Store, c *OplogCatalog) { _ = s.Delete(context.Background(), c.index.head.Segments[0].Key) },
		"head damaged": func(s *mem.Store, c *OplogCatalog) { s.SetBytes(IndexHeadKey(p), []byte("{not json")) },
	} {
		t.Run(name, func(t *testing.T) {
			s := mem.New()
			ctx := t.Context()
			chainOf(t, s, p, 0, 30)
			if _, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{}); err != nil {
				t.Fatal(err)
			}
			c, err := ReadOplogCatalog(ctx, s, p)
			if err != nil || !c.Index.Used {
				t.Fatalf("%+v %v", c.Index, err)
			}
			damage(s, c)
			c, err = ReadOplogCatalog(ctx, s, p)
			if err != nil || c.Index.Used || c.Index.Fallback == "" || len(c.Complete()) != 30 {
				t.Fatalf("after the damage: %+v %d complete, %v", c.Index, len(c.Complete()), err)
			}
			res, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{})
			if err != nil || !res.Rebuilt {
				t.Fatalf("rebuild: %+v %v", res, err)
			}
			if c, err = ReadOplogCatalog(ctx, s, p); err != nil || !c.Index.Used || len(c.Complete()) != 30 {
				t.Fatalf("after the rebuild: %+v %v", c.Index, err)
			}
		})
	}
}

// TestOplogIndexRemove is prune's order: the index stops describing the chunks first
// (recording them as pending), then they are deleted, then the pending keys are cleared.
// At no point does a read find a chunk the index describes that is not stored.
func TestOplogIndexRemove(t *testing.T) {
	s := mem.New()
	const p = ""
	ctx := t.Context()
	keys := chainOf(t, s, p, 0, 20)
	if _, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{}); err != nil {
		t.Fatal(err)
	}
	doomed := keys[:5]
	res, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{Remove: doomed})
	if err != nil || len(res.Pending) != 10 {
		t.Fatalf("remove: %+v %v (want 10 pending: 5 chunks and their manifests)", res, err)
	}
	c, err := ReadOplogCatalog(ctx, s, p)
	if err != nil || len(c.Complete()) != 15 || len(c.PendingDeletes()) != 10 {
		t.Fatalf("after the index update: %d complete, pending %v, %v", len(c.Complete()), c.PendingDeletes(), err)
	}
	var manifests []string
	for _, k := range doomed {
		manifests = append(manifests, ManifestKey(k))
	}
	if err := s.Delete(ctx, append(doomed, manifests...)...); err != nil {
		t.Fatal(err)
	}
	if res, err = UpdateOplogIndex(ctx, s, p, IndexUpdate{ClearPending: c.PendingDeletes()}); err != nil || len(res.Pending) != 0 {
		t.Fatalf("clear: %+v %v", res, err)
	}
	c, err = ReadOplogCatalog(ctx, s, p)
	full, ferr := ReadOplogCatalogFull(ctx, s, p)
	if err != nil || ferr != nil {
		t.Fatal(err, ferr)
	}
	sameCatalog(t, c, full)
}

// TestOplogIndexUploadInProgress: a chunk object without a manifest, stored a moment ago,
// may be an upload in progress: the index stops before it, so that its manifest, written
// next, is found by the next read (after the index), and the next update takes both in.
func TestOplogIndexUploadInProgress(t *testing.T) {
	s := mem.New()
	const p = ""
	ctx := t.Context()
	chainOf(t, s, p, 0, 5)
	uploading := putChunk(t, s, p, ts(5, 1), ts(6, 1), false)
	if _, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{}); err != nil {
		t.Fatal(err)
	}
	s.SetBytes(uploading, nil)
	_ = s.Delete(ctx, uploading)
	putChunk(t, s, p, ts(5, 1), ts(6, 1), true)
	c, err := ReadOplogCatalog(ctx, s, p)
	if err != nil || !c.Index.Used || len(c.Complete()) != 6 {
		t.Fatalf("%+v %d complete %v", c.Index, len(c.Complete()), err)
	}
	if _, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{}); err != nil {
		t.Fatal(err)
	}
	if c, err = ReadOplogCatalog(ctx, s, p); err != nil || c.Index.Tail != 2 || len(c.Complete()) != 6 {
		t.Fatalf("after the update: %+v %d complete %v (want only the head and its segment after Covered)", c.Index, len(c.Complete()), err)
	}
}

// TestOplogIndexConcurrentWriters: updates at once (the archiver and a prune) all end
// well: the head is written conditionally and a lost race is done again from a new read.
// (Chunks are written before: one archiver writes them, in key order, so that a chunk
// written after an update always sorts after what it covered.)
func TestOplogIndexConcurrentWriters(t *testing.T) {
	s := mem.New()
	const p = ""
	ctx := t.Context()
	keys := chainOf(t, s, p, 0, 40)
	if _, err := UpdateOplogIndex(ctx, s, p, IndexUpdate{}); err != nil {
		t.Fatal(err)
	}
	chainOf(t, s, p, 40, 7)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			u := IndexUpdate{}
			if i == 0 {
				u.Remove = keys[:3]
			}
			_, err := UpdateOplogIndex(ctx, s, p, u)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := ReadOplogCatalog(ctx, s, p)
	if err != nil || !c.Index.Used {
		t.Fatal(err, c.Index)
	}
	if got := len(c.Complete()); got != 37+7 {
		t.Errorf("%d complete chunks, want 44 (40 - 3 removed + 7 written)", got)
	}
	if !reflect.DeepEqual(len(c.PendingDeletes()), 6) {
		t.Errorf("pending %v, want the 3 removed chunks and their manifests", c.PendingDeletes())
	}
}
