package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

// ChunkManifestFormatVersion is the chunk manifest format this package writes and the
// newest it reads.
const ChunkManifestFormatVersion = 1

// maxChunkManifestSize bounds what ReadChunkManifest loads; a chunk manifest is a few
// hundred bytes.
const maxChunkManifestSize = 1 << 20

// ChunkManifest describes a complete oplog chunk. It is written after the chunk object is
// fully stored, so its presence means the chunk is whole: as for backups, a chunk without
// a manifest is incomplete and never used.
type ChunkManifest struct {
	FormatVersion int    `json:"format_version"`
	Tool          string `json:"tool"`         // "mongostash"
	ToolVersion   string `json:"tool_version"` // version of the tool that wrote the chunk
	// The chunk covers Since < ts <= Until. Since is the Until of the chunk before it in
	// its chain or, for the first chunk of a chain, the point the chain starts after (a base
	// backup's consistent point, or just before the oldest entry the oplog held).
	Since optime.Timestamp `json:"since"`
	Until optime.Timestamp `json:"until"`
	// First and Last are the chunk's first and last entries; both zero when the range held
	// no selected entry (a capture whose namespaces were quiet still advances its range).
	First optime.Timestamp `json:"first"`
	Last  optime.Timestamp `json:"last"`
	// Previous is the key of the chunk whose Last is this chunk's Since; empty for the first
	// chunk of a chain. It is informational: chains are rebuilt from the ranges.
	Previous string `json:"previous,omitempty"`
	// ChainStart says, for the first chunk of a chain, why the chain starts where it does.
	ChainStart string `json:"chain_start,omitempty"`
	Entries    int64  `json:"entries"` // entries in the chunk
	// Ops counts the entries by operation (i, u, d, c, n).
	Ops map[string]int64 `json:"ops,omitempty"`
	// RawSize is the size of the plain BSON entries before compression; CRC32C is their
	// CRC-32C (Castagnoli) in 8 lowercase hex digits, which checks the decompressed bytes
	// independently of the stored object's SHA-256.
	RawSize     int64              `json:"raw_size"`
	CRC32C      string             `json:"crc32c"`
	Compression stream.Compression `json:"compression"`
	// Encryption is the layer applied after compression, and Recipients the public keys
	// ("age1…") the chunk is encrypted to, as in a backup's manifest.
	Encryption stream.Encryption `json:"encryption,omitempty"`
	Recipients []string          `json:"recipients,omitempty"`
	Size       int64             `json:"size"`   // bytes of the stored object
	SHA256     string            `json:"sha256"` // lowercase hex SHA-256 of the stored object
	// Scope is the namespace selection the chunk was captured with; a chunk holds only the
	// entries of namespaces it selects.
	Scope     ChunkScope `json:"scope"`
	WrittenAt time.Time  `json:"written_at"`
	// LeaseEpoch is the epoch of the archiver's lease the chunk was written under (0: an
	// archiver without a lease, before there was one). A chunk of an older epoch that
	// reaches into the range a newer epoch began to write is superseded: written by an
	// archiver after it lost the lease, it is never used (OplogCatalog).
	LeaseEpoch uint64 `json:"lease_epoch,omitempty"`
}

// ChunkScope is a capture's namespace selection, as the user gave it.
type ChunkScope struct {
	Database string   `json:"database,omitempty"` // empty: every database
	Include  []string `json:"include,omitempty"`
	Exclude  []string `json:"exclude,omitempty"`
}

// Equal reports whether two scopes select the same namespaces by the same words.
func (s ChunkScope) Equal(o ChunkScope) bool {
	return s.Database == o.Database && equalStrings(s.Include, o.Include) && equalStrings(s.Exclude, o.Exclude)
}

// String describes the scope for messages.
func (s ChunkScope) String() string {
	out := "every database"
	if s.Database != "" {
		out = "database " + s.Database
	}
	if len(s.Include) > 0 {
		out += fmt.Sprintf(", including %v", s.Include)
	}
	if len(s.Exclude) > 0 {
		out += fmt.Sprintf(", excluding %v", s.Exclude)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// WriteChunkManifest stores m as the manifest of the chunk stored under chunkKey. Call it
// only after the chunk object is fully stored. The manifest's range must be the one the
// key names.
func WriteChunkManifest(ctx context.Context, s storage.Store, prefix, chunkKey string, m *ChunkManifest) error {
	return writeManifest(ctx, s, "chunk manifest", ManifestKey(chunkKey), m, func(c *ChunkManifest) error {
		if c.FormatVersion == 0 {
			c.FormatVersion = ChunkManifestFormatVersion
		}
		if err := c.validate(); err != nil {
			return err
		}
		return c.matches(prefix, chunkKey)
	})
}

// ReadChunkManifest reads the manifest of the chunk stored under chunkKey. Its errors wrap
// storage.ErrNotFound when there is none and ErrInvalidManifest when the object is not a
// chunk manifest this version understands or describes another range than the key names.
func ReadChunkManifest(ctx context.Context, s storage.Store, prefix, chunkKey string) (*ChunkManifest, error) {
	return readManifest(ctx, s, "chunk manifest", ManifestKey(chunkKey), maxChunkManifestSize, func(b []byte) (*ChunkManifest, error) {
		m, err := decodeManifest[ChunkManifest](b, maxChunkManifestSize)
		if err == nil {
			if merr := m.matches(prefix, chunkKey); merr != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, merr)
			}
		}
		return m, err
	})
}

func (m *ChunkManifest) validate() error {
	if err := checkFormatVersion(m.FormatVersion, ChunkManifestFormatVersion); err != nil {
		return err
	}
	switch {
	case !m.Since.Before(m.Until):
		return fmt.Errorf("range since %s until %s is empty", m.Since, m.Until)
	case m.Entries < 0:
		return fmt.Errorf("negative entry count %d", m.Entries)
	case m.Entries == 0 && (!m.First.IsZero() || !m.Last.IsZero()):
		return fmt.Errorf("no entries but a first or last entry")
	case m.Entries > 0 && (!m.Since.Before(m.First) || m.Last.Before(m.First) || m.Until.Before(m.Last)):
		return fmt.Errorf("entries from %s to %s are outside the range since %s until %s", m.First, m.Last, m.Since, m.Until)
	case m.Size < 0 || m.RawSize < 0:
		return fmt.Errorf("negative size")
	case !m.Compression.Valid():
		return fmt.Errorf("unknown compression %q", m.Compression)
	case !m.Encryption.Valid():
		return fmt.Errorf("unknown encryption %q", m.Encryption)
	case (m.Encryption == stream.Unencrypted) != (len(m.Recipients) == 0):
		return fmt.Errorf("encryption %s with %d recipients", m.Encryption, len(m.Recipients))
	case !isLowerHex(m.SHA256, 64):
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", m.SHA256)
	case !isLowerHex(m.CRC32C, 8):
		return fmt.Errorf("crc32c %q is not 8 lowercase hex digits", m.CRC32C)
	}
	return nil
}

// matches checks that the manifest describes the chunk its key names.
func (m *ChunkManifest) matches(prefix, chunkKey string) error {
	name, ok := ParseChunkKey(prefix, chunkKey)
	if !ok {
		return fmt.Errorf("%s is not a chunk key", chunkKey)
	}
	if name.Since != m.Since || name.Until != m.Until || name.Compression != m.Compression || name.Encryption != m.Encryption {
		return fmt.Errorf("it describes the range %s-%s (%s, encryption %s), the key names %s-%s (%s, encryption %s)",
			m.Since, m.Until, m.Compression, m.Encryption, name.Since, name.Until, name.Compression, name.Encryption)
	}
	return nil
}

// FormatCRC32C is how a chunk manifest writes a CRC-32C: 8 lowercase hex digits.
func FormatCRC32C(crc uint32) string { return fmt.Sprintf("%08x", crc) }
