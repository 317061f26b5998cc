package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mongostash/mongostash/storage"
)

// Writing the oplog folder's index (oplogindex.go): the archiver after its chunks, prune
// around its deletes.

// DefaultIndexGrace is how young a chunk object without a manifest must be to be taken for
// an upload in progress, which the index leaves to the listing after it.
const DefaultIndexGrace = time.Hour

// IndexUpdate says what UpdateOplogIndex changes besides taking in what was written since
// the index was.
type IndexUpdate struct {
	// Remove are keys being deleted now (prune's chunks, their manifests, gap markers and
	// orphan manifests): described no more, and pending until cleared.
	Remove []string
	// ClearPending are pending keys deleted again since: forgotten.
	ClearPending []string
	// Grace: chunk objects without a manifest younger than this may be uploads in
	// progress; the index stops before the first (default DefaultIndexGrace).
	Grace time.Duration
	// WrittenBy names the writer in the head ("pitr", "prune").
	WrittenBy string
	// Full, a catalog ReadOplogCatalog read whole, is what a missing or damaged index is
	// built from instead of reading the folder once more.
	Full *OplogCatalog
	Now  time.Time
}

// IndexResult is what UpdateOplogIndex did.
type IndexResult struct {
	Segments int  // segments the index names
	Written  int  // segments written
	Rebuilt  bool // built from the whole folder: there was no usable index
	// Pending are the keys the index records as being deleted.
	Pending []string
}

// indexAttempts bounds the writes of the head lost to another writer (the archiver and a
// prune at the same moment), each followed by a new read.
const indexAttempts = 5

// UpdateOplogIndex brings prefix's oplog index up to date: it takes in what was written
// after it (or builds it from the whole folder when there is none, or it is damaged),
// applies u, writes the segments that changed under new names, then the head —
// conditionally on the head it read, on a store that writes conditionally, and again from
// a new read when another writer changed it meanwhile — and deletes the segments no longer
// named. On a store without conditional writes two writers at the same moment may lose one
// update (the next one repairs what it described; see docs/pitr.md).
func UpdateOplogIndex(ctx context.Context, s storage.Store, prefix string, u IndexUpdate) (IndexResult, error) {
	if u.Grace <= 0 {
		u.Grace = DefaultIndexGrace
	}
	if u.Now.IsZero() {
		u.Now = time.Now()
	}
	cw, _ := s.(storage.ConditionalWriter)
	for range indexAttempts {
		res, err := updateIndexOnce(ctx, s, cw, prefix, u)
		if !errors.Is(err, storage.ErrPrecondition) {
			return res, err
		}
		u.Full = nil // the folder changed since it was read
	}
	return IndexResult{}, fmt.Errorf("update the oplog index %s: other writers kept changing it", IndexHeadKey(prefix))
}

func updateIndexOnce(ctx context.Context, s storage.Store, cw storage.ConditionalWriter, prefix string, u IndexUpdate) (IndexResult, error) {
	st, err := readIndexState(ctx, s, cw, prefix)
	var bad *unusableIndexError
	if err != nil && !errors.As(err, &bad) {
		return IndexResult{}, err
	}
	var c *OplogCatalog
	switch {
	case bad != nil && u.Full != nil && u.Full.full:
		c = u.Full
	case bad != nil:
		if c, err = ReadOplogCatalogFull(ctx, s, prefix); err != nil {
			return IndexResult{}, err
		}
	default:
		if c, err = readWithIndex(ctx, s, prefix, st); err != nil {
			return IndexResult{}, err
		}
	}
	old := st.head
	if bad != nil {
		old = indexHead{} // built anew: every object is taken in
	}
	next := planIndex(c, old, st.segments, u, bad != nil)
	res := IndexResult{Rebuilt: bad != nil, Segments: len(next.refs), Pending: next.pending()}
	if next.unchanged(old) {
		return res, nil
	}
	if res.Written, err = next.writeSegments(ctx, s); err != nil {
		return res, err
	}
	if err := next.writeHead(ctx, s, cw, prefix, st.tag, u); err != nil {
		next.deleteWritten(ctx, s)
		return res, err
	}
	deleteUnnamed(ctx, s, old.Segments, next.refs)
	return res, nil
}

// indexEntry is one described object of the folder.
type indexEntry struct {
	key   string
	chunk *indexedChunk
	gap   *indexedGap
	// orphan or ignored, by which list it goes to
	object  *indexedObject
	ignored bool
}

// newIndex is an index being written.
type newIndex struct {
	covered  string
	segments []indexSegment
	refs     []segmentRef
	encoded  [][]byte // the segments to write, by position (nil: unchanged)
}

// planIndex decides the new index: what c describes up to the new Covered, minus what u
// removes, in the old segments' places where they stay and in new ones after them.
func planIndex(c *OplogCatalog, old indexHead, oldSegs []indexSegment, u IndexUpdate, rebuilt bool) *newIndex {
	covered := coverUpTo(c, old.Covered, u)
	removed := map[string]bool{}
	for _, k := range u.Remove {
		removed[k] = true
	}
	var entries []indexEntry
	var pending []string
	isPending := map[string]bool{}
	addPending := func(k string) {
		if !isPending[k] {
			isPending[k] = true
			pending = append(pending, k)
		}
	}
	for _, e := range describe(c) {
		switch {
		case e.key > covered:
		case removed[e.key]:
			addPending(e.key)
			if e.chunk != nil && e.chunk.HasManifest {
				addPending(ManifestKey(e.key))
			}
		default:
			entries = append(entries, e)
		}
	}
	cleared := map[string]bool{}
	for _, k := range u.ClearPending {
		cleared[k] = true
	}
	for _, seg := range oldSegs {
		for _, k := range seg.Pending {
			if !rebuilt && !cleared[k] {
				addPending(k)
			}
		}
	}
	n := &newIndex{covered: covered}
	n.place(c.Prefix, entries, pending, old, oldSegs, rebuilt)
	return n
}

// coverUpTo is the new Covered: the manifest of the last whole chunk listed after the old
// Covered, but before the first chunk object without a manifest younger than the grace (an
// upload in progress, whose manifest must be listed when it comes); the old one when none.
func coverUpTo(c *OplogCatalog, old string, u IndexUpdate) string {
	stop := ""
	for _, ch := range c.Chunks {
		if ch.Key > old && !ch.whole() && u.Now.Sub(ch.LastModified) < u.Grace && (stop == "" || ch.Key < stop) {
			stop = ch.Key
		}
	}
	covered := old
	for _, ch := range c.Chunks {
		if mk := ManifestKey(ch.Key); ch.whole() && mk > covered && (stop == "" || mk < stop) {
			covered = mk
		}
	}
	return covered
}

// describe lists what the catalog describes, but its own objects, sorted by key.
func describe(c *OplogCatalog) []indexEntry {
	var out []indexEntry
	for _, ch := range c.Chunks {
		e := &indexedChunk{indexedObject: indexedObject{Key: ch.Key, Size: ch.Size, Modified: ch.LastModified}, HasManifest: ch.HasManifest, Manifest: ch.Manifest}
		if ch.ManifestErr != nil {
			e.ManifestErr = ch.ManifestErr.Error()
		}
		out = append(out, indexEntry{key: ch.Key, chunk: e})
	}
	for _, g := range c.Gaps {
		out = append(out, indexEntry{key: g.Key, gap: &indexedGap{Key: g.Key, Marker: g.GapMarker}})
	}
	for _, o := range c.OrphanManifests {
		out = append(out, indexEntry{key: o.Key, object: &indexedObject{Key: o.Key, Size: o.Size, Modified: o.LastModified}})
	}
	for _, o := range c.Ignored {
		out = append(out, indexEntry{key: o.Key, object: &indexedObject{Key: o.Key, Size: o.Size, Modified: o.LastModified}, ignored: true})
	}
	slices.SortFunc(out, func(a, b indexEntry) int { return strings.Compare(a.key, b.key) })
	return out
}

// place puts entries and pending keys into segments: in the old segments' key ranges
// while they last (so that a change rewrites only the segments it touches), the rest in the
// last one and new ones after it, at most segmentChunks chunks each.
func (n *newIndex) place(prefix string, entries []indexEntry, pending []string, old indexHead, oldSegs []indexSegment, rebuilt bool) {
	var bounds []string // the last key of each old segment
	if !rebuilt {
		for _, seg := range oldSegs {
			bounds = append(bounds, lastKey(seg))
		}
	}
	segs := make([]indexSegment, max(len(bounds), 1))
	at := func(key string) int {
		if i, _ := slices.BinarySearch(bounds, key); i < len(bounds) {
			return i
		}
		return len(segs) - 1 // after every old segment: the last one, or a new one after it
	}
	for _, e := range entries {
		i := at(e.key)
		if i == len(segs)-1 && len(segs[i].Chunks) >= segmentChunks && e.chunk != nil {
			segs = append(segs, indexSegment{})
			i++
		}
		segs[i].add(e)
	}
	for _, k := range pending {
		i := at(k)
		segs[i].Pending = append(segs[i].Pending, k)
	}
	unchanged := map[string]segmentRef{}
	for _, r := range old.Segments {
		unchanged[r.SHA256] = r
	}
	for _, seg := range segs {
		if seg.empty() {
			continue
		}
		seg.FormatVersion = indexFormatVersion
		b, _ := json.Marshal(seg) // plain structs: cannot fail
		ref := segmentRef{Key: segmentKey(prefix, seg), Size: int64(len(b)), SHA256: sha256Hex(b), Chunks: len(seg.Chunks)}
		if r, ok := unchanged[ref.SHA256]; ok && !rebuilt {
			ref, b = r, nil // unchanged: kept as it is
		}
		n.segments = append(n.segments, seg)
		n.refs = append(n.refs, ref)
		n.encoded = append(n.encoded, b)
	}
}

// segmentKey names a new segment after its chunks' range and a random suffix: segments
// are written once, never replaced.
func segmentKey(prefix string, seg indexSegment) string {
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	stem := "strays"
	if len(seg.Chunks) > 0 {
		first, okF := ParseChunkKey(prefix, seg.Chunks[0].Key)
		last, okL := ParseChunkKey(prefix, seg.Chunks[len(seg.Chunks)-1].Key)
		if okF && okL {
			stem = rangeStem(first.Since, last.Until)
		}
	}
	return indexSegmentPrefix(prefix) + stem + "." + hex.EncodeToString(id) + ".json"
}

func lastKey(seg indexSegment) string {
	last := ""
	for _, e := range seg.Chunks {
		last = max(last, e.Key)
	}
	for _, e := range seg.Gaps {
		last = max(last, e.Key)
	}
	for _, e := range append(seg.Orphans, seg.Ignored...) {
		last = max(last, e.Key)
	}
	for _, k := range seg.Pending {
		last = max(last, k)
	}
	return last
}

func (seg *indexSegment) add(e indexEntry) {
	switch {
	case e.chunk != nil:
		seg.Chunks = append(seg.Chunks, *e.chunk)
	case e.gap != nil:
		seg.Gaps = append(seg.Gaps, *e.gap)
	case e.ignored:
		seg.Ignored = append(seg.Ignored, *e.object)
	default:
		seg.Orphans = append(seg.Orphans, *e.object)
	}
}

func (seg indexSegment) empty() bool {
	return len(seg.Chunks)+len(seg.Gaps)+len(seg.Orphans)+len(seg.Ignored)+len(seg.Pending) == 0
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// pending lists the keys the new index records as being deleted.
func (n *newIndex) pending() []string {
	var out []string
	for _, seg := range n.segments {
		out = append(out, seg.Pending...)
	}
	return out
}

// unchanged reports an index that would be the one read.
func (n *newIndex) unchanged(old indexHead) bool {
	if n.covered != old.Covered || len(n.refs) != len(old.Segments) {
		return false
	}
	for i, r := range n.refs {
		if r != old.Segments[i] {
			return false
		}
	}
	return true
}

// writeSegments stores the new segments; it returns how many it wrote.
func (n *newIndex) writeSegments(ctx context.Context, s storage.Store) (int, error) {
	written := 0
	for i, b := range n.encoded {
		if b == nil {
			continue
		}
		if _, err := s.Put(ctx, n.refs[i].Key, bytes.NewReader(b)); err != nil {
			return written, fmt.Errorf("write oplog index segment: %w", err)
		}
		written++
	}
	return written, nil
}

// writeHead replaces the head: if it still has tag (if absent with ""), on a store that
// writes conditionally; plainly on others.
func (n *newIndex) writeHead(ctx context.Context, s storage.Store, cw storage.ConditionalWriter, prefix, tag string, u IndexUpdate) error {
	h := indexHead{FormatVersion: indexFormatVersion, Covered: n.covered, Segments: n.refs, WrittenAt: u.Now.UTC(), WrittenBy: u.WrittenBy}
	if h.Segments == nil {
		h.Segments = []segmentRef{}
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the oplog index: %w", err)
	}
	key := IndexHeadKey(prefix)
	if cw != nil {
		_, err = cw.PutIf(ctx, key, append(b, '\n'), tag)
	} else {
		_, err = s.Put(ctx, key, bytes.NewReader(append(b, '\n')))
	}
	if err != nil {
		return fmt.Errorf("write the oplog index: %w", err)
	}
	return nil
}

// deleteWritten deletes the segments written for a head that was not written.
func (n *newIndex) deleteWritten(ctx context.Context, s storage.Store) {
	var keys []string
	for i, b := range n.encoded {
		if b != nil {
			keys = append(keys, n.refs[i].Key)
		}
	}
	_ = s.Delete(context.WithoutCancel(ctx), keys...) // left over, they are garbage prune removes
}

// deleteUnnamed deletes the old segments the new head no longer names; what a failure
// leaves is garbage prune removes (IndexGarbage).
func deleteUnnamed(ctx context.Context, s storage.Store, old, kept []segmentRef) {
	named := map[string]bool{}
	for _, r := range kept {
		named[r.Key] = true
	}
	var keys []string
	for _, r := range old {
		if !named[r.Key] {
			keys = append(keys, r.Key)
		}
	}
	if len(keys) > 0 {
		_ = s.Delete(ctx, keys...)
	}
}
