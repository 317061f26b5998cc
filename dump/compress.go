package dump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression names how a backup stream is compressed.
type Compression string

// The supported compressions. zstd is the default: it is faster than gzip at a better ratio.
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

// ParseCompression accepts "zstd", "gzip" (or "gz") and "none" (or "").
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "zstd", "zst":
		return Zstd, nil
	case "gzip", "gz":
		return Gzip, nil
	case "none", "":
		return None, nil
	}
	return "", fmt.Errorf("unknown compression %q (want zstd, gzip or none)", s)
}

// Ext is the key suffix of a backup with this compression.
func (c Compression) Ext() string {
	switch c {
	case Zstd:
		return ".zst"
	case Gzip:
		return ".gz"
	}
	return ""
}

// Compress wraps w so that what is written to the result is compressed with c at level
// (0 = the library's default). Closing the result flushes it but does not close w.
func Compress(w io.Writer, c Compression, level int) (io.WriteCloser, error) {
	switch c {
	case Zstd:
		el := zstd.SpeedDefault
		if level != 0 {
			el = zstd.EncoderLevelFromZstd(level)
		}
		// Two encoder goroutines keep a 2-core machine busy without starving the dump.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(el), zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)))
	case Gzip:
		if level == 0 {
			level = gzip.DefaultCompression
		}
		return gzip.NewWriterLevel(w, level)
	case None:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Magic numbers that identify a stream's compression (see design.md).
var (
	archiveMagic = []byte{0x6D, 0xE2, 0x99, 0x81}
	gzipMagic    = []byte{0x1F, 0x8B}
	zstdMagic    = []byte{0x28, 0xB5, 0x2F, 0xFD}
)

// ErrUnknownFormat means a stream is neither a mongodump archive nor a gzip or zstd stream.
var ErrUnknownFormat = errors.New("not a mongodump archive, nor gzip or zstd compressed (unknown magic bytes)")

// Decompress detects the compression of r from its first bytes — never from a name or a
// flag — and returns a reader of the plain archive and the compression found.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	head, err := br.Peek(4)
	if err != nil && len(head) == 0 {
		if errors.Is(err, io.EOF) {
			return nil, "", fmt.Errorf("empty stream: %w", io.ErrUnexpectedEOF)
		}
		return nil, "", err
	}
	switch {
	case bytes.HasPrefix(head, archiveMagic):
		return io.NopCloser(br), None, nil
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		return zr, Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %w", err)
		}
		return zstdReadCloser{zr}, Zstd, nil
	}
	return nil, "", ErrUnknownFormat
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }
