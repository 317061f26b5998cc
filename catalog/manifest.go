package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

// ManifestFormatVersion is the manifest format this package writes and the newest it reads.
const ManifestFormatVersion = 1

// ManifestSuffix is appended to a backup's key to name its manifest.
const ManifestSuffix = ".manifest.json"

// maxManifestSize bounds what ReadManifest loads: a manifest with a hundred thousand
// namespaces is still far below it, and a huge object under a manifest name is not ours.
const maxManifestSize = 64 << 20

// Manifest describes a complete backup. It is written after the backup object is fully
// stored, so its presence means the object is whole.
type Manifest struct {
	FormatVersion int                `json:"format_version"`
	Tool          string             `json:"tool"`                     // "mongostash"
	ToolVersion   string             `json:"tool_version"`             // version of the tool that wrote the backup
	ServerVersion string             `json:"server_version,omitempty"` // MongoDB server version, when known
	Databases     []string           `json:"databases"`
	Compression   stream.Compression `json:"compression"`
	// Encryption is the layer applied after compression (Unencrypted: none), and
	// Recipients the public keys the object is encrypted to ("age1…"), so that anyone
	// can tell which private key restores it. Public keys only: never an identity.
	Encryption stream.Encryption `json:"encryption,omitempty"`
	Recipients []string          `json:"recipients,omitempty"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt time.Time         `json:"finished_at"`
	// Size and SHA256 are of the stored object: after compression and encryption.
	Size   int64  `json:"size"`   // bytes of the stored object
	SHA256 string `json:"sha256"` // lowercase hex SHA-256 of the stored object
	// Oplog is the oplog range a backup made with an oplog holds; the backup is consistent
	// at its End. Nil for a backup without an oplog.
	Oplog *OplogRange `json:"oplog,omitempty"`
	// Namespaces lists every "db.collection" in the archive, in archive order.
	Namespaces []ManifestNamespace `json:"namespaces"`
}

// ManifestNamespace is what the manifest records about one collection in the archive.
type ManifestNamespace struct {
	Namespace string `json:"namespace"` // "db.collection"
	Documents int64  `json:"documents"`
	// CRC is the namespace's archive checksum as FormatCRC writes it; the archive codec
	// defines the algorithm, this package only carries it.
	CRC string `json:"crc,omitempty"`
}

// ManifestKey returns the key of the manifest of the backup stored under backupKey.
func ManifestKey(backupKey string) string { return backupKey + ManifestSuffix }

// WriteManifest stores m as the manifest of the backup stored under backupKey. Call it only
// after the backup object is fully stored: the manifest is what marks the backup complete.
// A zero FormatVersion is written as ManifestFormatVersion.
func WriteManifest(ctx context.Context, s storage.Store, backupKey string, m *Manifest) error {
	return writeManifest(ctx, s, "manifest", ManifestKey(backupKey), m, func(c *Manifest) error {
		if c.FormatVersion == 0 {
			c.FormatVersion = ManifestFormatVersion
		}
		return c.validate()
	})
}

// ReadManifest reads the manifest of the backup stored under backupKey. It returns an error
// wrapping ErrNotFound when there is none and one wrapping ErrInvalidManifest when the
// object is not a manifest this version understands.
func ReadManifest(ctx context.Context, s storage.Store, backupKey string) (*Manifest, error) {
	return readManifest(ctx, s, "manifest", ManifestKey(backupKey), maxManifestSize, DecodeManifest)
}

// DecodeManifest parses a manifest's JSON. Its errors wrap ErrInvalidManifest. Unknown
// fields are ignored so that an older mongostash can read a newer manifest of the same
// format version.
func DecodeManifest(b []byte) (*Manifest, error) {
	return decodeManifest[Manifest](b, maxManifestSize)
}

func (m *Manifest) validate() error {
	if err := checkFormatVersion(m.FormatVersion, ManifestFormatVersion); err != nil {
		return err
	}
	switch {
	case m.Size < 0:
		return fmt.Errorf("negative size %d", m.Size)
	}
	if !m.Compression.Valid() {
		return fmt.Errorf("unknown compression %q", m.Compression)
	}
	if !m.Encryption.Valid() {
		return fmt.Errorf("unknown encryption %q", m.Encryption)
	}
	if (m.Encryption == stream.Unencrypted) != (len(m.Recipients) == 0) {
		return fmt.Errorf("encryption %s with %d recipients", m.Encryption, len(m.Recipients))
	}
	for i, r := range m.Recipients {
		// Only public keys belong here; an identity ("AGE-SECRET-KEY-1…") never does, and
		// is not repeated in the error.
		if !strings.HasPrefix(r, "age1") {
			return fmt.Errorf("recipient %d is not an age public key (age1…)", i+1)
		}
	}
	if m.SHA256 != "" && !isLowerHex(m.SHA256, 64) {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", m.SHA256)
	}
	for _, n := range m.Namespaces {
		if n.Documents < 0 {
			return fmt.Errorf("namespace %q: negative document count", n.Namespace)
		}
		if n.CRC != "" && !isLowerHex(n.CRC, -1) {
			return fmt.Errorf("namespace %q: crc %q is not lowercase hex", n.Namespace, n.CRC)
		}
	}
	return nil
}

// isLowerHex reports whether s is non-empty lowercase hex, of length n when n >= 0.
func isLowerHex(s string, n int) bool {
	if s == "" || (n >= 0 && len(s) != n) {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
