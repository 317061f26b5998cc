package catalog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	"golang.org/x/sync/errgroup"
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
}

// Complete reports whether the chunk has a readable manifest recording its size.
func (c Chunk) Complete() bool {
	return c.Manifest != nil && c.Manifest.Size == c.Size
}

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
	// Ignored is everything else in the oplog folder: not ours, never touched.
	Ignored []storage.Object
}

// ReadOplogCatalog lists prefix's oplog folder and sorts it into chunks (with their
// manifests), gap markers, orphan manifests and ignored objects. A manifest that cannot be
// decoded does not fail the listing: its chunk is reported with ManifestErr set.
func ReadOplogCatalog(ctx context.Context, s storage.Store, prefix string) (*OplogCatalog, error) {
	objs, err := s.List(ctx, prefix+OplogFolder)
	if err != nil {
		return nil, err // the store's error says what it listed where
	}
	exists := make(map[string]bool, len(objs))
	for _, o := range objs {
		exists[o.Key] = true
	}
	c := &OplogCatalog{Prefix: prefix}
	for _, o := range objs {
		if name, ok := ParseChunkKey(prefix, o.Key); ok {
			mk := ManifestKey(o.Key)
			c.Chunks = append(c.Chunks, Chunk{ChunkName: name, Size: o.Size, LastModified: o.LastModified, ManifestKey: mk, HasManifest: exists[mk]})
			continue
		}
		if after, resume, ok := ParseGapKey(prefix, o.Key); ok {
			c.Gaps = append(c.Gaps, Gap{Key: o.Key, GapMarker: GapMarker{After: after, Resume: resume}})
			continue
		}
		if ck, ok := strings.CutSuffix(o.Key, ManifestSuffix); ok {
			if _, isChunk := ParseChunkKey(prefix, ck); isChunk {
				if !exists[ck] {
					c.OrphanManifests = append(c.OrphanManifests, o)
				}
				continue
			}
		}
		c.Ignored = append(c.Ignored, o)
	}
	slices.SortFunc(c.Chunks, func(a, b Chunk) int { return compareRange(a.Since, a.Until, b.Since, b.Until) })
	slices.SortFunc(c.Gaps, func(a, b Gap) int { return compareRange(a.After, a.Resume, b.After, b.Resume) })
	if err := c.readManifests(ctx, s); err != nil {
		return nil, err
	}
	return c, nil
}

func compareRange(a1, a2, b1, b2 optime.Timestamp) int {
	if n := a1.Compare(b1); n != 0 {
		return n
	}
	return a2.Compare(b2)
}

// readManifests reads the chunks' manifests and the gap markers' bodies, a few at once.
func (c *OplogCatalog) readManifests(ctx context.Context, s storage.Store) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestReaders)
	for i := range c.Chunks {
		ch := &c.Chunks[i]
		if !ch.HasManifest {
			continue
		}
		g.Go(func() error {
			m, err := ReadChunkManifest(gctx, s, c.Prefix, ch.Key)
			switch {
			case err == nil:
				ch.Manifest = m
			case errors.Is(err, storage.ErrNotFound):
				ch.HasManifest = false // deleted since the listing
			case errors.Is(err, ErrInvalidManifest):
				ch.ManifestErr = err
			default:
				return err
			}
			return nil
		})
	}
	for i := range c.Gaps {
		gp := &c.Gaps[i]
		g.Go(func() error {
			m, err := readGapMarker(gctx, s, gp.Key, gp.After, gp.Resume)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			gp.GapMarker = m
			return nil
		})
	}
	return g.Wait()
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
