package catalog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
)

// Chunk is one oplog chunk object found under a prefix, with its manifest when it has one.
//
// The rule for "complete" is the backups' rule: the manifest exists, was readable, names
// the range the key names, and records the size the object has. The manifest is written
// only after the chunk is fully stored, so a chunk without one is the leftover of a run
// that died between the two writes; it is never used, and `mongostash pitr` re-reads its
// entries from the oplog.
type Chunk struct {
	ChunkName
	Size         int64
	LastModified time.Time
	Manifest     *ChunkManifest // nil when there is none or it could not be read (ManifestErr)
	ManifestKey  string
	HasManifest  bool
	ManifestErr  error // why Manifest is nil although HasManifest is true
	// SupersededBy is, for a chunk written under a lease epoch older than another whose
	// chunks begin before this one ends, that newer epoch: the chunk was finished by an
	// archiver that had lost the lease, and is never used (0: not superseded).
	SupersededBy uint64
}

// Complete reports whether the chunk has a readable manifest recording its size, and is
// not superseded.
func (c Chunk) Complete() bool {
	return c.whole() && c.SupersededBy == 0
}

// whole reports a readable manifest recording the chunk's size.
func (c Chunk) whole() bool { return c.Manifest != nil && c.Manifest.Size == c.Size }

// Gap is a gap marker found under a prefix.
type Gap struct {
	Key string
	GapMarker
}

// OplogCatalog is everything under a prefix's oplog folder, sorted out.
type OplogCatalog struct {
	Prefix string
	// Chunks are every chunk object, complete or not, sorted by range (Since, then Last).
	Chunks []Chunk
	// Gaps are the recorded gaps, sorted by After.
	Gaps []Gap
	// OrphanManifests are chunk manifests whose chunk object does not exist.
	OrphanManifests []storage.Object
	// Bookkeeping are the catalog's own objects beside the chunks: the archiver's lease
	// (LeaseKey) and the index objects.
	Bookkeeping []storage.Object
	// Ignored is everything else in the oplog folder: not ours, never touched.
	Ignored []storage.Object
	// Index says how the folder was read: through its index, or whole, and why.
	Index IndexUse

	full          bool        // read whole (ReadOplogCatalogFull): what an index is built from
	index         *indexState // the index read, when it was used
	lateManifests []int       // chunks indexed without a manifest whose manifest is listed now
}

// ReadOplogCatalog reads prefix's oplog folder and sorts it into chunks (with their
// manifests), gap markers, orphan manifests and ignored objects. It reads it through the
// folder's index (oplogindex.go): the index objects, then only what was written after them
// — a listing of those keys and their manifests — so that its requests do not grow with
// the number of chunks. Without a usable index (none yet, or one damaged) it reads the
// whole folder and every manifest, as ReadOplogCatalogFull, and Index says why. A manifest
// that cannot be decoded does not fail the listing: its chunk is reported with ManifestErr
// set.
func ReadOplogCatalog(ctx context.Context, s storage.Store, prefix string) (*OplogCatalog, error) {
	c, err := readIndexed(ctx, s, prefix)
	var unusable *unusableIndexError
	if !errors.As(err, &unusable) {
		return c, err
	}
	c, err = ReadOplogCatalogFull(ctx, s, prefix)
	if err != nil {
		return nil, err
	}
	c.Index.Fallback = unusable.Error()
	return c, nil
}

// ReadOplogCatalogFull lists prefix's oplog folder whole and reads every manifest and gap
// marker: what the index is built from, and what a reader falls back to without one.
func ReadOplogCatalogFull(ctx context.Context, s storage.Store, prefix string) (*OplogCatalog, error) {
	all, err := s.List(ctx, prefix+OplogFolder)
	if err != nil {
		return nil, err // the store's error says what it listed where
	}
	c := &OplogCatalog{Prefix: prefix, full: true}
	c.sortListing(all, nil)
	if err := c.readManifests(ctx, s, 0, 0); err != nil {
		return nil, err
	}
	c.finish()
	return c, nil
}

// sortListing adds the objects of a listing of the oplog folder: chunks (with whether the
// listing, or indexed, holds their manifest), gap markers, orphan manifests, the catalog's
// own objects and the rest. indexed, when not nil, tells the chunk keys already described.
func (c *OplogCatalog) sortListing(objs []storage.Object, indexed map[string]int) {
	parse := func(key string) (ChunkName, bool) { return ParseChunkKey(c.Prefix, key) }
	orphans, rest := listObjects(objs, parse, func(name ChunkName, o storage.Object, mk string, has bool) {
		c.Chunks = append(c.Chunks, Chunk{ChunkName: name, Size: o.Size, LastModified: o.LastModified, ManifestKey: mk, HasManifest: has})
	})
	for _, o := range orphans {
		if i, ok := indexed[strings.TrimSuffix(o.Key, ManifestSuffix)]; ok && c.Chunks[i].Manifest == nil {
			// The manifest of an indexed chunk without one, written since: read it.
			c.Chunks[i].HasManifest, c.Chunks[i].ManifestErr = true, nil
			c.lateManifests = append(c.lateManifests, i)
			continue
		}
		c.OrphanManifests = append(c.OrphanManifests, o)
	}
	for _, o := range rest {
		if after, resume, ok := ParseGapKey(c.Prefix, o.Key); ok {
			c.Gaps = append(c.Gaps, Gap{Key: o.Key, GapMarker: GapMarker{After: after, Resume: resume}})
			continue
		}
		if isBookkeeping(c.Prefix, o.Key) {
			c.Bookkeeping = append(c.Bookkeeping, o)
			continue
		}
		c.Ignored = append(c.Ignored, o)
	}
}

// finish sorts the catalog and applies the lease's rule.
func (c *OplogCatalog) finish() {
	slices.SortFunc(c.Chunks, func(a, b Chunk) int { return compareRange(a.Since, a.Until, b.Since, b.Until) })
	slices.SortFunc(c.Gaps, func(a, b Gap) int { return compareRange(a.After, a.Resume, b.After, b.Resume) })
	for _, objs := range [][]storage.Object{c.OrphanManifests, c.Bookkeeping, c.Ignored} {
		sortObjects(objs)
	}
	c.markSuperseded()
}

func compareRange(a1, a2, b1, b2 optime.Timestamp) int {
	if n := a1.Compare(b1); n != 0 {
		return n
	}
	return a2.Compare(b2)
}

// readManifests reads the manifests of the chunks from fromChunk on (and of those whose
// manifest came after they were indexed) and, beside them, the bodies of the gap markers
// from fromGap on.
func (c *OplogCatalog) readManifests(ctx context.Context, s storage.Store, fromChunk, fromGap int) error {
	var slots []manifestSlot[ChunkManifest]
	for _, i := range append(c.lateManifests, seq(fromChunk, len(c.Chunks))...) {
		ch := &c.Chunks[i]
		slots = append(slots, manifestSlot[ChunkManifest]{key: ch.Key, has: &ch.HasManifest, manifest: &ch.Manifest, invalid: &ch.ManifestErr})
	}
	var gaps []func(context.Context) error
	for i := fromGap; i < len(c.Gaps); i++ {
		gp := &c.Gaps[i]
		gaps = append(gaps, func(ctx context.Context) error {
			m, err := readGapMarker(ctx, s, gp.Key, gp.After, gp.Resume)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			gp.GapMarker = m
			return nil
		})
	}
	read := func(ctx context.Context, key string) (*ChunkManifest, error) {
		return ReadChunkManifest(ctx, s, c.Prefix, key)
	}
	return readManifests(ctx, slots, read, gaps...)
}

func seq(from, to int) []int {
	out := make([]int, 0, max(0, to-from))
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// Complete returns the complete chunks, in range order.
func (c *OplogCatalog) Complete() []Chunk {
	var out []Chunk
	for _, ch := range c.Chunks {
		if ch.Complete() {
			out = append(out, ch)
		}
	}
	return out
}

// Incomplete returns the chunk objects that are not complete, in range order.
func (c *OplogCatalog) Incomplete() []Chunk {
	var out []Chunk
	for _, ch := range c.Chunks {
		if !ch.Complete() {
			out = append(out, ch)
		}
	}
	return out
}

// markSuperseded applies the lease's rule to the chunks. Each archiver writes under an epoch
// of the prefix's lease, one more at every change of holder, and starts where the chunks it
// found end. A chunk of an older epoch that ends after the first chunk of a newer epoch
// begins was therefore finished after that newer holder had started — by a holder that had
// lost the lease — and overlaps what the newer one writes: it is superseded.
func (c *OplogCatalog) markSuperseded() {
	starts := map[uint64]optime.Timestamp{} // epoch → the Since of its first whole chunk
	for _, ch := range c.Chunks {
		if !ch.whole() {
			continue
		}
		e := ch.Manifest.LeaseEpoch
		if s, ok := starts[e]; !ok || ch.Since.Before(s) {
			starts[e] = ch.Since
		}
	}
	if len(starts) < 2 {
		return
	}
	epochs := make([]uint64, 0, len(starts))
	for e := range starts {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	// laterStart[i]: the earliest start of the epochs after epochs[i], and which.
	type start struct {
		at    optime.Timestamp
		epoch uint64
	}
	laterStart := make([]start, len(epochs))
	laterStart[len(epochs)-1] = start{at: optime.Max}
	for i := len(epochs) - 2; i >= 0; i-- {
		next, s := laterStart[i+1], starts[epochs[i+1]]
		if s.Before(next.at) {
			next = start{at: s, epoch: epochs[i+1]}
		}
		laterStart[i] = next
	}
	for i := range c.Chunks {
		ch := &c.Chunks[i]
		if !ch.whole() {
			continue
		}
		j, _ := slices.BinarySearch(epochs, ch.Manifest.LeaseEpoch)
		if ls := laterStart[j]; ch.Until.After(ls.at) {
			ch.SupersededBy = ls.epoch
		}
	}
}

// Superseded returns the chunks written after their archiver lost the lease.
func (c *OplogCatalog) Superseded() []Chunk {
	var out []Chunk
	for _, ch := range c.Chunks {
		if ch.SupersededBy != 0 {
			out = append(out, ch)
		}
	}
	return out
}
