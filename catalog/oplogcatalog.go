package catalog

import (
	"context"
	"errors"
	"slices"
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
}

// ReadOplogCatalog lists prefix's oplog folder and sorts it into chunks (with their
// manifests), gap markers, orphan manifests and ignored objects. A manifest that cannot be
// decoded does not fail the listing: its chunk is reported with ManifestErr set.
func ReadOplogCatalog(ctx context.Context, s storage.Store, prefix string) (*OplogCatalog, error) {
	c := &OplogCatalog{Prefix: prefix}
	parse := func(key string) (ChunkName, bool) { return ParseChunkKey(prefix, key) }
	orphans, rest, err := listObjects(ctx, s, prefix+OplogFolder, parse, func(name ChunkName, o storage.Object, mk string, has bool) {
		c.Chunks = append(c.Chunks, Chunk{ChunkName: name, Size: o.Size, LastModified: o.LastModified, ManifestKey: mk, HasManifest: has})
	})
	if err != nil {
		return nil, err
	}
	c.OrphanManifests = orphans
	for _, o := range rest {
		if after, resume, ok := ParseGapKey(prefix, o.Key); ok {
			c.Gaps = append(c.Gaps, Gap{Key: o.Key, GapMarker: GapMarker{After: after, Resume: resume}})
			continue
		}
		if isBookkeeping(prefix, o.Key) {
			c.Bookkeeping = append(c.Bookkeeping, o)
			continue
		}
		c.Ignored = append(c.Ignored, o)
	}
	slices.SortFunc(c.Chunks, func(a, b Chunk) int { return compareRange(a.Since, a.Until, b.Since, b.Until) })
	slices.SortFunc(c.Gaps, func(a, b Gap) int { return compareRange(a.After, a.Resume, b.After, b.Resume) })
	if err := c.readManifests(ctx, s); err != nil {
		return nil, err
	}
	c.markSuperseded()
	return c, nil
}

func compareRange(a1, a2, b1, b2 optime.Timestamp) int {
	if n := a1.Compare(b1); n != 0 {
		return n
	}
	return a2.Compare(b2)
}

// readManifests reads the chunks' manifests and, beside them, the gap markers' bodies.
func (c *OplogCatalog) readManifests(ctx context.Context, s storage.Store) error {
	slots := make([]manifestSlot[ChunkManifest], len(c.Chunks))
	for i := range c.Chunks {
		ch := &c.Chunks[i]
		slots[i] = manifestSlot[ChunkManifest]{key: ch.Key, has: &ch.HasManifest, manifest: &ch.Manifest, invalid: &ch.ManifestErr}
	}
	var gaps []func(context.Context) error
	for i := range c.Gaps {
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
