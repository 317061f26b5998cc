// Package stream assembles and takes apart the byte stream of a backup between the archive
// and the store: compression, then encryption with age (NewWriter); reading (Open) detects
// each layer from its magic bytes — never from an object key's extension or a flag — so a
// renamed or seed-era object restores all the same. The layers are the same for every
// object the tool stores.
//
// It must never know about MongoDB, object keys or manifests (the names of the layers are
// package catalog's), and never print an age identity: Identities format as a count.
package stream

import (
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
