package catalog

import "fmt"

// Compression names how a backup's bytes are compressed. The name is what manifests
// record; Ext is what backup keys end with.
type Compression string

// The compressions mongostash writes and reads. zstd is the default: faster than gzip at a
// better ratio. None is the seed's plain archive.
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

// compressions lists every known compression, those with a key extension first.
var compressions = []Compression{Zstd, Gzip, None}

// ParseCompression accepts the names ("zstd", "gzip", "none") and their extensions'
// spellings ("zst", "gz", and "" for none).
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "zstd", "zst":
		return Zstd, nil
	case "gzip", "gz":
		return Gzip, nil
	case "none", "":
		return None, nil
	}
	return "", fmt.Errorf("catalog: unknown compression %q (want zstd, gzip or none)", s)
}

// Valid reports whether c is a known compression.
func (c Compression) Valid() bool {
	switch c {
	case Zstd, Gzip, None:
		return true
	}
	return false
}

// Ext is what the key of a backup with this compression ends with, after ".dump".
func (c Compression) Ext() string {
	switch c {
	case Zstd:
		return ".zst"
	case Gzip:
		return ".gz"
	}
	return ""
}
