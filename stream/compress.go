// Package stream assembles and takes apart the byte stream of a backup between the archive
// and the store: compression today, encryption next. Reading detects each layer from its
// magic bytes — never from a key's extension or a flag — so a renamed or seed-era object
// restores all the same.
//
// It must never know about MongoDB, keys or manifests; the names of the layers are
// package catalog's.
package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/mongostash/mongostash/catalog"
)

// Compress wraps w so that what is written to the result is compressed with c at level
// (0 = the library's default). Closing the result flushes it but does not close w.
func Compress(w io.Writer, c catalog.Compression, level int) (io.WriteCloser, error) {
	switch c {
	case catalog.Zstd:
		el := zstd.SpeedDefault
		if level != 0 {
			el = zstd.EncoderLevelFromZstd(level)
		}
		// Two encoder goroutines keep a 2-core machine busy without starving the dump.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(el), zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)))
	case catalog.Gzip:
		if level == 0 {
			level = gzip.DefaultCompression
		}
		return gzip.NewWriterLevel(w, level)
	case catalog.None:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("stream: unknown compression %q", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Magic numbers that identify a stream's layers (docs/archive-format.md).
var (
	archiveMagic = []byte{0x6D, 0xE2, 0x99, 0x81}
	gzipMagic    = []byte{0x1F, 0x8B}
	zstdMagic    = []byte{0x28, 0xB5, 0x2F, 0xFD}
)

// ErrUnknownFormat means a stream is neither a mongodump archive nor a gzip or zstd stream.
var ErrUnknownFormat = errors.New("stream: not a mongodump archive, nor gzip or zstd compressed (unknown magic bytes)")

// Decompress detects the compression of r from its first bytes — never from a name or a
// flag — and returns a reader of the plain archive and the compression found.
func Decompress(r io.Reader) (io.ReadCloser, catalog.Compression, error) {
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
		return io.NopCloser(br), catalog.None, nil
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		return zr, catalog.Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %w", err)
		}
		return zstdReadCloser{zr}, catalog.Zstd, nil
	}
	return nil, "", ErrUnknownFormat
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }
