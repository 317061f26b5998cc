package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/storage"
	"golang.org/x/sync/errgroup"
)

// The oplog folder's index: what a reader of the catalog needs of every chunk, gap marker
// and stray object, compacted into a few objects, so that reading a month of chunks costs a
// few requests rather than one per manifest.
//
//	<prefix>oplog/index.json                     the head: the segments, and Covered
//	<prefix>oplog/index/<since>-<until>.<id>.json a segment: up to segmentChunks chunks,
//	                                             their manifests, the gaps and strays among them
//
// Every object of the folder whose key sorts at or before the head's Covered is described
// by the segments (as they were written: a chunk deleted since by hand is not seen); a
// reader lists only the keys after Covered — the chunks written since, which the index
// names sort after too — and reads their manifests. Segments are written once under a new
// name and the head is replaced last, conditionally on the one read (UpdateOplogIndex), so
// that a reader always sees a head and the segments it names. A missing or damaged index
// is never an error: the folder is read whole instead (and written again by the next
// writer).

const (
	indexHeadName       = "index.json"
	indexFolder         = "index/"
	indexFormatVersion  = 1
	segmentChunks       = 1000     // chunks per segment: 10,000 chunks are ten segments
	maxIndexHeadSize    = 1 << 20  // a head is a few hundred bytes per segment
	maxIndexSegmentSize = 64 << 20 // a segment is about 700 bytes per chunk
)

// IndexHeadKey is the key of the oplog folder's index head: <prefix>oplog/index.json.
func IndexHeadKey(prefix string) string { return prefix + OplogFolder + indexHeadName }

// indexSegmentPrefix is the folder of the index segments.
func indexSegmentPrefix(prefix string) string { return prefix + OplogFolder + indexFolder }

// isBookkeeping reports the catalog's own objects in the oplog folder that are neither
// chunks nor gap markers: the lease and the index.
func isBookkeeping(prefix, key string) bool {
	return key == LeaseKey(prefix) || key == IndexHeadKey(prefix) || strings.HasPrefix(key, indexSegmentPrefix(prefix))
}

// IndexUse says how ReadOplogCatalog read the folder.
type IndexUse struct {
	Used     bool // through the index
	Segments int  // index segments read
	Tail     int  // objects listed after the index (chunks written since, and the index's own)
	// Fallback says why the folder was read whole although ReadOplogCatalog was asked: no
	// index yet, or one that could not be used.
	Fallback string
}

// indexHead is the head object.
type indexHead struct {
	FormatVersion int `json:"format_version"`
	// Covered: every object of the oplog folder with a key at or before it (but the
	// catalog's own) is described by the segments.
	Covered   string       `json:"covered"`
	Segments  []segmentRef `json:"segments"`
	WrittenAt time.Time    `json:"written_at"`
	WrittenBy string       `json:"written_by"`
}

// segmentRef names a segment and what it must hold.
type segmentRef struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Chunks int    `json:"chunks"`
}

// indexSegment is a segment object: entries sorted by key.
type indexSegment struct {
	FormatVersion int             `json:"format_version"`
	Chunks        []indexedChunk  `json:"chunks,omitempty"`
	Gaps          []indexedGap    `json:"gaps,omitempty"`
	Orphans       []indexedObject `json:"orphan_manifests,omitempty"`
	Ignored       []indexedObject `json:"ignored,omitempty"`
	// Pending are keys a prune is deleting: described no more, and deleted again by the
	// next prune until it is sure they are gone.
	Pending []string `json:"pending_deletes,omitempty"`
}

type indexedObject struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

type indexedChunk struct {
	indexedObject
	HasManifest bool           `json:"has_manifest,omitempty"`
	Manifest    *ChunkManifest `json:"manifest,omitempty"`
	ManifestErr string         `json:"manifest_error,omitempty"`
}

type indexedGap struct {
	Key    string    `json:"key"`
	Marker GapMarker `json:"marker"`
}

// indexState is an index as read: its head and segments, in order.
type indexState struct {
	head     indexHead
	tag      string // the head's tag, when read for a conditional update
	segments []indexSegment
}

// unusableIndexError says why the index cannot be used: the folder is read whole instead.
type unusableIndexError struct{ why string }

func (e *unusableIndexError) Error() string { return e.why }

func unusable(format string, args ...any) error {
	return &unusableIndexError{why: fmt.Sprintf(format, args...)}
}

// decodeIndexHead parses a head; its errors are unusableIndexErrors.
func decodeIndexHead(key string, b []byte) (indexHead, error) {
	var h indexHead
	if len(b) > maxIndexHeadSize {
		return h, unusable("the oplog index %s is larger than %d bytes", key, maxIndexHeadSize)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, unusable("the oplog index %s is damaged: %v", key, err)
	}
	if err := checkFormatVersion(h.FormatVersion, indexFormatVersion); err != nil {
		return h, unusable("the oplog index %s: %v", key, err)
	}
	return h, nil
}

// readIndexState reads the head (plain, or with its tag through cw) and every segment it
// names, checked against the head. No index is an unusableIndexError; so is a damaged one,
// which still comes with the state read so far (the head's tag, for a writer to replace it).
func readIndexState(ctx context.Context, s storage.Store, cw storage.ConditionalWriter, prefix string) (*indexState, error) {
	key := IndexHeadKey(prefix)
	st := &indexState{}
	var b []byte
	var err error
	if cw != nil {
		var t storage.Tagged
		t, err = cw.ReadTagged(ctx, key)
		b, st.tag = t.Data, t.Tag
	} else {
		b, err = readSmall(ctx, s, "oplog index", key, maxIndexHeadSize)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return st, unusable("the oplog folder has no index yet (%s)", key)
	case err != nil:
		return nil, err
	}
	if st.head, err = decodeIndexHead(key, b); err != nil {
		return st, err
	}
	st.segments = make([]indexSegment, len(st.head.Segments))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestReaders)
	for i, ref := range st.head.Segments {
		g.Go(func() error {
			seg, err := readSegment(gctx, s, ref)
			st.segments[i] = seg
			return err
		})
	}
	return st, g.Wait()
}

// readSegment reads one segment and checks it against its reference.
func readSegment(ctx context.Context, s storage.Store, ref segmentRef) (indexSegment, error) {
	var seg indexSegment
	b, err := readSmall(ctx, s, "oplog index segment", ref.Key, maxIndexSegmentSize)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return seg, unusable("the oplog index segment %s is missing", ref.Key)
	case err != nil:
		return seg, err
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != ref.Size || hex.EncodeToString(sum[:]) != ref.SHA256 {
		return seg, unusable("the oplog index segment %s is not the one the index names (size or SHA-256 differ)", ref.Key)
	}
	if err := json.Unmarshal(b, &seg); err != nil {
		return seg, unusable("the oplog index segment %s is damaged: %v", ref.Key, err)
	}
	if err := checkFormatVersion(seg.FormatVersion, indexFormatVersion); err != nil {
		return seg, unusable("the oplog index segment %s: %v", ref.Key, err)
	}
	if len(seg.Chunks) != ref.Chunks {
		return seg, unusable("the oplog index segment %s holds %d chunks, the index names %d", ref.Key, len(seg.Chunks), ref.Chunks)
	}
	return seg, nil
}

// readIndexed reads the folder through its index: the segments, then the objects listed
// after Covered, with their manifests.
func readIndexed(ctx context.Context, s storage.Store, prefix string) (*OplogCatalog, error) {
	st, err := readIndexState(ctx, s, nil, prefix)
	if err != nil {
		return nil, err
	}
	return readWithIndex(ctx, s, prefix, st)
}

// readWithIndex is the catalog that index st and the objects after it describe.
func readWithIndex(ctx context.Context, s storage.Store, prefix string, st *indexState) (*OplogCatalog, error) {
	tail, err := storage.ListRange(ctx, s, prefix+OplogFolder, st.head.Covered, "")
	if err != nil {
		return nil, err
	}
	c := &OplogCatalog{Prefix: prefix, index: st}
	c.Index = IndexUse{Used: true, Segments: len(st.segments), Tail: len(tail)}
	indexed := c.addSegments(st.segments)
	fromChunk, fromGap := len(c.Chunks), len(c.Gaps)
	c.sortListing(tail, indexed)
	if err := c.readManifests(ctx, s, fromChunk, fromGap); err != nil {
		return nil, err
	}
	c.finish()
	return c, nil
}

// addSegments adds what the segments describe and returns the position of each indexed
// chunk by key.
func (c *OplogCatalog) addSegments(segs []indexSegment) map[string]int {
	indexed := map[string]int{}
	for _, seg := range segs {
		for _, e := range seg.Chunks {
			name, ok := ParseChunkKey(c.Prefix, e.Key)
			if !ok {
				continue // not a chunk of this prefix: the index was written for another
			}
			ch := Chunk{ChunkName: name, Size: e.Size, LastModified: e.Modified, ManifestKey: ManifestKey(e.Key),
				HasManifest: e.HasManifest, Manifest: e.Manifest}
			if e.ManifestErr != "" {
				ch.ManifestErr = fmt.Errorf("%w: %s", ErrInvalidManifest, e.ManifestErr)
			}
			indexed[e.Key] = len(c.Chunks)
			c.Chunks = append(c.Chunks, ch)
		}
		for _, g := range seg.Gaps {
			c.Gaps = append(c.Gaps, Gap{Key: g.Key, GapMarker: g.Marker})
		}
		for _, o := range seg.Orphans {
			c.OrphanManifests = append(c.OrphanManifests, o.object())
		}
		for _, o := range seg.Ignored {
			c.Ignored = append(c.Ignored, o.object())
		}
	}
	return indexed
}

func (o indexedObject) object() storage.Object {
	return storage.Object{Key: o.Key, Size: o.Size, LastModified: o.Modified}
}

// PendingDeletes are the keys an interrupted prune was deleting, which the index no longer
// describes: the next prune deletes them again.
func (c *OplogCatalog) PendingDeletes() []string {
	if c.index == nil {
		return nil
	}
	var out []string
	for _, seg := range c.index.segments {
		out = append(out, seg.Pending...)
	}
	return out
}

// IndexGarbage are the index segments under the folder that the index does not name and
// that were written more than grace before now: left by a writer that died between writing
// them and the head, or whose head lost a race. Younger ones may be a writer's at work.
func (c *OplogCatalog) IndexGarbage(now time.Time, grace time.Duration) []string {
	if c.index == nil {
		return nil // without the index read, nothing tells which segments it names
	}
	named := map[string]bool{}
	for _, ref := range c.index.head.Segments {
		named[ref.Key] = true
	}
	var out []string
	for _, o := range c.Bookkeeping {
		if strings.HasPrefix(o.Key, indexSegmentPrefix(c.Prefix)) && !named[o.Key] && now.Sub(o.LastModified) > grace {
			out = append(out, o.Key)
		}
	}
	return out
}

// ErrIndexStale is wrapped by ConfirmManifests when a chunk the index describes is not
// stored as described (deleted or changed by hand since the index was written): read the
// folder whole (ReadOplogCatalogFull) and plan again.
var ErrIndexStale = errors.New("catalog: the oplog index is out of date")

// ConfirmManifests reads the manifests of the chunks a restore will replay — the only
// manifests it reads — and puts them in place of the index's copies. It fails, wrapping
// ErrIndexStale, when one is gone or differs from the index's copy.
func ConfirmManifests(ctx context.Context, s storage.Store, prefix string, chunks []PlannedChunk) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestReaders)
	for i := range chunks {
		ch := &chunks[i]
		g.Go(func() error {
			m, err := ReadChunkManifest(gctx, s, prefix, ch.Key)
			switch {
			case errors.Is(err, storage.ErrNotFound) || errors.Is(err, ErrInvalidManifest):
				return fmt.Errorf("%w: the chunk %s it describes has no readable manifest: %v", ErrIndexStale, ch.Key, err)
			case err != nil:
				return err
			case ch.Manifest == nil || !sameManifest(m, ch.Manifest):
				return fmt.Errorf("%w: the manifest of %s differs from the index's copy", ErrIndexStale, ch.Key)
			}
			ch.Manifest = m
			return nil
		})
	}
	return g.Wait()
}

// sameManifest compares two manifests by what a replay checks.
func sameManifest(a, b *ChunkManifest) bool {
	return a.Since == b.Since && a.Until == b.Until && a.Size == b.Size && a.SHA256 == b.SHA256 &&
		a.Entries == b.Entries && a.RawSize == b.RawSize && a.CRC32C == b.CRC32C && a.LeaseEpoch == b.LeaseEpoch
}
