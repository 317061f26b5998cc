package pitr

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

// Reading oplog chunks back (restore --to-time).
//
// A chunk is the object `mongostash pitr` stored under catalog.ChunkKey: BSON oplog
// entries one after another in timestamp order, through stream.NewWriter. Its manifest
// records the stored object's size and SHA-256, and the plain bytes' size, CRC-32C and
// entry count. ReadChunk checks all of them while it streams the entries, so a chunk is
// read once and never held in memory; the checks of the whole object can only end at its
// last byte, after the entries before it were handed out. Callers that must not write
// anything of a damaged chunk therefore either read it once with a function that writes
// nothing (VerifyPlan) or write where a later failure is undone (restore --drop writes into
// temporary collections and swaps them in only when everything proved good).

// ErrChunkDamaged is wrapped when a chunk's bytes are not those its manifest describes:
// changed, cut short, or not a chunk at all.
var ErrChunkDamaged = errors.New("pitr: oplog chunk does not match its manifest")

// maxEntrySize bounds one oplog entry: a 16 MiB document and the entry's own fields.
// A larger length prefix is damage, not an entry to allocate for.
const maxEntrySize = 16<<20 + 64<<10

// castagnoli is the CRC-32C table of chunk manifests.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ChunkStats is what reading one chunk found.
type ChunkStats struct {
	Key     string
	Entries int64 // entries in the chunk, all checked
	Applied int64 // entries handed to the caller: After < ts <= UpTo
	// First and Last are the first and last entries handed to the caller (zero when none).
	First, Last optime.Timestamp
	StoredBytes int64 // bytes of the stored object read
	RawBytes    int64 // bytes of plain BSON entries
}

// ReadChunk streams the complete chunk ch from s, decrypting with ids when it is
// encrypted, and calls fn with every entry whose timestamp is in (after, upTo], in order.
// fn's argument is valid only during the call. The whole chunk is read and checked
// against its manifest even when upTo ends the entries early; any mismatch returns an
// error wrapping ErrChunkDamaged, after fn saw the entries before the point where the
// damage showed (see the package comment).
func ReadChunk(ctx context.Context, s storage.Store, ids *stream.Identities, ch catalog.Chunk, after, upTo optime.Timestamp, fn func(bson.Raw) error) (ChunkStats, error) {
	st := ChunkStats{Key: ch.Key}
	m := ch.Manifest
	if m == nil {
		return st, fmt.Errorf("oplog chunk %s has no manifest: it is not complete and is never replayed", ch.Key)
	}
	obj, err := s.Get(ctx, ch.Key)
	if err != nil {
		return st, fmt.Errorf("read oplog chunk: %w", err) // the store's error names the key
	}
	defer obj.Close()
	stored := &digest{r: obj, h: sha256.New()}
	plain, _, err := stream.OpenAs(stored, ids, m.Compression)
	if err != nil {
		return st, fmt.Errorf("read oplog chunk %s: %w", ch.Key, err)
	}
	defer plain.Close()
	raw := &digest{r: plain, h: crc32.New(castagnoli)}
	cr := chunkRead{ch: ch, after: after, upTo: upTo, fn: fn, st: &st}
	if err := cr.entries(ctx, raw); err != nil {
		return st, err
	}
	// The compressed stream may end before the object does (trailing bytes): read the
	// object to its last byte, so that size and SHA-256 cover all of it.
	if _, err := io.Copy(io.Discard, stored); err != nil {
		return st, fmt.Errorf("read oplog chunk %s: %w", ch.Key, err)
	}
	st.StoredBytes, st.RawBytes = stored.n, raw.n
	return st, cr.checkTotals(m, stored, raw)
}

// chunkRead is the state of one ReadChunk's walk over the entries.
type chunkRead struct {
	ch        catalog.Chunk
	after     optime.Timestamp
	upTo      optime.Timestamp
	fn        func(bson.Raw) error
	st        *ChunkStats
	prev      optime.Timestamp
	firstSeen optime.Timestamp
}

// entries reads the length-prefixed BSON documents of r to its end.
func (cr *chunkRead) entries(ctx context.Context, r io.Reader) error {
	var buf []byte
	var lenBuf [4]byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the end, between two entries
			}
			return cr.damaged(fmt.Errorf("after %d entries: %w", cr.st.Entries, readError(err)))
		}
		n := int(binary.LittleEndian.Uint32(lenBuf[:]))
		if n < 5 || n > maxEntrySize {
			return cr.damaged(fmt.Errorf("entry %d has the length %d, not a BSON document's", cr.st.Entries+1, n))
		}
		if cap(buf) < n {
			buf = make([]byte, n, max(n, 64<<10))
		}
		buf = buf[:n]
		copy(buf, lenBuf[:])
		if _, err := io.ReadFull(r, buf[4:]); err != nil {
			return cr.damaged(fmt.Errorf("entry %d: %w", cr.st.Entries+1, readError(err)))
		}
		if err := cr.entry(bson.Raw(buf)); err != nil {
			return err
		}
	}
}

// entry checks one entry's place in the chunk and hands it on when it is in range.
func (cr *chunkRead) entry(doc bson.Raw) error {
	ts, ok := oplog.EntryTimestamp(doc)
	cr.st.Entries++
	switch {
	case !ok || doc.Validate() != nil:
		return cr.damaged(fmt.Errorf("entry %d is not an oplog entry with a timestamp", cr.st.Entries))
	case !cr.ch.Since.Before(ts) || cr.ch.Until.Before(ts):
		return cr.damaged(fmt.Errorf("entry %d at %s is outside the chunk's range", cr.st.Entries, ts))
	case cr.st.Entries > 1 && !cr.prev.Before(ts):
		return cr.damaged(fmt.Errorf("entry %d at %s does not come after the entry at %s", cr.st.Entries, ts, cr.prev))
	}
	if cr.st.Entries == 1 {
		cr.firstSeen = ts
	}
	cr.prev = ts
	if !cr.after.Before(ts) || cr.upTo.Before(ts) {
		return nil
	}
	if cr.st.Applied == 0 {
		cr.st.First = ts
	}
	cr.st.Applied++
	cr.st.Last = ts
	return cr.fn(doc)
}

func (cr *chunkRead) damaged(err error) error {
	return fmt.Errorf("%w: %s: %v", ErrChunkDamaged, cr.ch.Key, err)
}

// readError names a stream that ended inside an entry.
func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the chunk ends inside an entry (cut short)")
	}
	return err
}

// checkTotals compares what the whole chunk held with its manifest.
func (cr *chunkRead) checkTotals(m *catalog.ChunkManifest, stored, raw *digest) error {
	st := cr.st
	var problems []string
	if stored.n != m.Size {
		problems = append(problems, fmt.Sprintf("the stored object has %d bytes, the manifest records %d", stored.n, m.Size))
	}
	if sum := hex.EncodeToString(stored.h.Sum(nil)); sum != m.SHA256 {
		problems = append(problems, fmt.Sprintf("its SHA-256 is %s, the manifest records %s", sum, m.SHA256))
	}
	if raw.n != m.RawSize {
		problems = append(problems, fmt.Sprintf("it holds %d bytes of entries, the manifest records %d", raw.n, m.RawSize))
	}
	if crc := catalog.FormatCRC32C(raw.h.(hash.Hash32).Sum32()); crc != m.CRC32C {
		problems = append(problems, fmt.Sprintf("the entries' CRC-32C is %s, the manifest records %s", crc, m.CRC32C))
	}
	if st.Entries != m.Entries {
		problems = append(problems, fmt.Sprintf("it holds %d entries, the manifest records %d", st.Entries, m.Entries))
	} else if st.Entries > 0 && (cr.firstSeen != m.First || cr.prev != m.Last) {
		problems = append(problems, fmt.Sprintf("its entries run from %s to %s, the manifest records %s to %s", cr.firstSeen, cr.prev, m.First, m.Last))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", ErrChunkDamaged, cr.ch.Key, strings.Join(problems, "; "))
}

// digest hashes and counts what is read through it.
type digest struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (d *digest) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	return n, err
}

// PlanStats is what reading the chunks of a restore plan found.
type PlanStats struct {
	Chunks      []ChunkStats
	Applied     int64 // entries handed to the caller, all chunks
	StoredBytes int64
}

// ReadPlan reads the chunks of plan in order and calls fn with the entries the plan
// applies: those of each chunk after its After and up to the plan's target. Each chunk is
// checked whole (ReadChunk); the first error ends the read.
func ReadPlan(ctx context.Context, s storage.Store, ids *stream.Identities, plan *catalog.RestorePlan, fn func(bson.Raw) error) (PlanStats, error) {
	var ps PlanStats
	for _, pc := range plan.Chunks {
		upTo := pc.Until
		if plan.Target.Before(upTo) {
			upTo = plan.Target
		}
		st, err := ReadChunk(ctx, s, ids, pc.Chunk, pc.After, upTo, fn)
		ps.Chunks = append(ps.Chunks, st)
		ps.Applied += st.Applied
		ps.StoredBytes += st.StoredBytes
		if err != nil {
			return ps, err
		}
	}
	return ps, nil
}
