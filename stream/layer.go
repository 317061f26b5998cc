package stream

import "fmt"

// Compression names the compression layer of a stream. The names are the codec's; package
// catalog records them in manifests and maps them to the extensions of object keys.
type Compression string

// The compressions this package writes and reads. zstd is the default: faster than gzip at
// a better ratio. None is the seed's plain archive.
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

// ParseCompression accepts the names ("zstd", "gzip", "none") and the usual short
// spellings of the formats ("zst", "gz", and "" for none).
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "zstd", "zst":
		return Zstd, nil
	case "gzip", "gz":
		return Gzip, nil
	case "none", "":
		return None, nil
	}
	return "", fmt.Errorf("stream: unknown compression %q (want zstd, gzip or none)", s)
}

// Valid reports whether c is a known compression.
func (c Compression) Valid() bool {
	switch c {
	case Zstd, Gzip, None:
		return true
	}
	return false
}

// Encryption names the encryption layer of a stream, applied after compression. Open
// detects it from the stream's header, never from a name: the name only tells people and
// listings what to expect.
type Encryption string

// The encryptions this package writes and reads. Unencrypted is the empty name, so that a
// manifest written before encryption existed reads as unencrypted.
const (
	Unencrypted Encryption = ""
	// Age is age (age-encryption.org/v1): X25519 (or hybrid post-quantum) recipients,
	// ChaCha20-Poly1305 in authenticated 64 KiB chunks.
	Age Encryption = "age"
)

// Valid reports whether e is a known encryption.
func (e Encryption) Valid() bool { return e == Age || e == Unencrypted }

// String is the name, "none" for no encryption, for messages and listings.
func (e Encryption) String() string {
	if e == Unencrypted {
		return "none"
	}
	return string(e)
}
