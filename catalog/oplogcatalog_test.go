package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

// ts is a timestamp n seconds after a fixed second, ordinal i.
func ts(n, i uint32) optime.Timestamp { return optime.Timestamp{T: 1795632534 + n, I: i} }

// putChunk stores a chunk covering (since, until] with made-up bytes and, when complete, its
// manifest; it returns the chunk's key.
func putChunk(t *testing.T, s *mem.Store, prefix string, since, until optime.Timestamp, complete bool) string {
	t.Helper()
	key := ChunkKey(prefix, since, until, stream.Zstd, stream.Unencrypted)
	data := []byte("chunk " + key)
	s.SetBytes(key, data)
	if !complete {
		return key
	}
	sum := sha256.Sum256(data)
	m := &ChunkManifest{
		Tool: "mongostash", ToolVersion: "test", Since: since, Until: until, First: until, Last: until,
		Entries: 1, Ops: map[string]int64{"i": 1}, RawSize: 100, CRC32C: FormatCRC32C(0xdeadbeef),
		Compression: stream.Zstd, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), WrittenAt: until.Time(),
	}
	if err := WriteChunkManifest(context.Background(), s, prefix, key, m); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestReadOplogCatalog(t *testing.T) {
	s := mem.New()
	ctx := t.Context()
	const p = "prod/"
	a := putChunk(t, s, p, ts(0, 0), ts(10, 0), true)
	b := putChunk(t, s, p, ts(10, 0), ts(20, 5), true)
	incomplete := putChunk(t, s, p, ts(20, 5), ts(30, 0), false)
	mismatch := putChunk(t, s, p, ts(40, 0), ts(50, 0), true)
	s.SetBytes(mismatch, []byte("grown since its manifest was written"))
	bad := putChunk(t, s, p, ts(60, 0), ts(70, 0), false)
	s.SetBytes(ManifestKey(bad), []byte("{not json"))
	orphan := ManifestKey(ChunkKey(p, ts(80, 0), ts(90, 0), stream.Zstd, stream.Unencrypted))
	s.SetBytes(orphan, []byte("{}"))
	if _, err := WriteGapMarker(ctx, s, p, &GapMarker{After: ts(20, 5), Resume: ts(40, 1), DetectedAt: ts(41, 0).Time(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	s.SetBytes(p+"oplog/README", []byte("not ours"))
	s.SetBytes(p+"backup-2026-11-25T18:48:54.123456Z.dump.zst", []byte("a backup, not in the oplog folder"))
	s.SetBytes("oplog/"+strings.TrimPrefix(a, p+"oplog/"), []byte("outside the prefix"))

	c, err := ReadOplogCatalog(ctx, s, p)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ch := range c.Complete() {
		keys = append(keys, ch.Key)
	}
	if strings.Join(keys, " ") != a+" "+b {
		t.Errorf("complete chunks: %v, want [%s %s]", keys, a, b)
	}
	keys = nil
	for _, ch := range c.Incomplete() {
		keys = append(keys, ch.Key)
	}
	if strings.Join(keys, " ") != incomplete+" "+mismatch+" "+bad {
		t.Errorf("incomplete chunks: %v, want [%s %s %s]", keys, incomplete, mismatch, bad)
	}
	for _, ch := range c.Chunks {
		if ch.Key == bad && (ch.ManifestErr == nil || !errors.Is(ch.ManifestErr, ErrInvalidManifest)) {
			t.Errorf("%s: ManifestErr = %v, want ErrInvalidManifest", bad, ch.ManifestErr)
		}
		if ch.Key == incomplete && ch.HasManifest {
			t.Errorf("%s: HasManifest without a manifest", incomplete)
		}
	}
	if len(c.OrphanManifests) != 1 || c.OrphanManifests[0].Key != orphan {
		t.Errorf("orphan manifests: %v, want %s", c.OrphanManifests, orphan)
	}
	if len(c.Gaps) != 1 || c.Gaps[0].After != ts(20, 5) || c.Gaps[0].Resume != ts(40, 1) || c.Gaps[0].Reason != "test" {
		t.Errorf("gaps: %+v", c.Gaps)
	}
	if len(c.Ignored) != 1 || c.Ignored[0].Key != p+"oplog/README" {
		t.Errorf("ignored: %v", c.Ignored)
	}
}

func TestChunkManifestMustMatchItsKey(t *testing.T) {
	s := mem.New()
	ctx := t.Context()
	key := putChunk(t, s, "", ts(0, 0), ts(10, 0), true)
	m, err := ReadChunkManifest(ctx, s, "", key)
	if err != nil {
		t.Fatal(err)
	}
	// The same manifest under another chunk's name is refused on write and on read.
	other := ChunkKey("", ts(0, 0), ts(11, 0), stream.Zstd, stream.Unencrypted)
	if err := WriteChunkManifest(ctx, s, "", other, m); err == nil {
		t.Error("a manifest describing another range was written")
	}
	b, _ := s.Bytes(ManifestKey(key))
	s.SetBytes(ManifestKey(other), b)
	if _, err := ReadChunkManifest(ctx, s, "", other); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("read of a manifest naming another range: %v, want ErrInvalidManifest", err)
	}
}

func TestChunkManifestValidation(t *testing.T) {
	good := ChunkManifest{FormatVersion: 1, Since: ts(0, 0), Until: ts(10, 0), First: ts(1, 0), Last: ts(9, 0), Entries: 3,
		Compression: stream.Zstd, SHA256: strings.Repeat("a", 64), CRC32C: "0badf00d"}
	if err := good.validate(); err != nil {
		t.Fatalf("good manifest refused: %v", err)
	}
	for name, change := range map[string]func(*ChunkManifest){
		"newer format":       func(m *ChunkManifest) { m.FormatVersion = 2 },
		"empty range":        func(m *ChunkManifest) { m.Until = m.Since },
		"first at since":     func(m *ChunkManifest) { m.First = m.Since },
		"last after until":   func(m *ChunkManifest) { m.Last = ts(11, 0) },
		"last before first":  func(m *ChunkManifest) { m.Last = ts(0, 5) },
		"negative entries":   func(m *ChunkManifest) { m.Entries = -1 },
		"no entries, first":  func(m *ChunkManifest) { m.Entries = 0 },
		"bad sha":            func(m *ChunkManifest) { m.SHA256 = "xyz" },
		"bad crc":            func(m *ChunkManifest) { m.CRC32C = "BADF00D0" },
		"unknown compressor": func(m *ChunkManifest) { m.Compression = "lz4" },
	} {
		m := good
		change(&m)
		if err := m.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	empty := good
	empty.Entries, empty.First, empty.Last = 0, optime.Timestamp{}, optime.Timestamp{}
	if err := empty.validate(); err != nil {
		t.Errorf("a chunk of a quiet range (no entries) refused: %v", err)
	}
}

func TestWriteGapMarkerRefusesEmpty(t *testing.T) {
	if _, err := WriteGapMarker(t.Context(), mem.New(), "", &GapMarker{After: ts(5, 0), Resume: ts(5, 0)}); err == nil {
		t.Error("an empty gap was written")
	}
}
