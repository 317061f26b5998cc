package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Magic numbers that identify a stream's layers (docs/archive-format.md); ageMagic is in
// age.go.
var (
	archiveMagic = []byte{0x6D, 0xE2, 0x99, 0x81}
	gzipMagic    = []byte{0x1F, 0x8B}
	zstdMagic    = []byte{0x28, 0xB5, 0x2F, 0xFD}
)

// readBuffer is the read-ahead of each layer: large enough that a slow store's small reads
// do not reach the decompressor one by one.
const readBuffer = 256 << 10

// ErrUnknownFormat means a stream is neither a mongodump archive, nor a gzip or zstd
// stream, nor encrypted with age.
var ErrUnknownFormat = errors.New("stream: not a mongodump archive, nor gzip or zstd compressed, nor age encrypted (unknown magic bytes)")

// Layers are the layers Open found on a stream.
type Layers struct {
	Compression Compression
	Encryption  Encryption
}

// Open detects the layers of r from its first bytes — never from a name or a flag — and
// returns a reader of the plain archive. An age-encrypted stream is decrypted with ids: no
// identity (ids nil) is ErrNoIdentity and identities that do not match are
// ErrWrongIdentity, both before a byte of the archive is returned. Damage found later
// fails the Read that reaches it with an error wrapping ErrDamaged; age detects a stream
// that was cut short, so the archive reader sees an error, never a clean end.
func Open(r io.Reader, ids *Identities) (io.ReadCloser, Layers, error) {
	br := bufio.NewReaderSize(r, readBuffer)
	head, err := peekHead(br)
	if err != nil {
		return nil, Layers{}, err
	}
	if !bytes.HasPrefix(head, ageMagic) {
		rc, c, err := decompress(br, head)
		return rc, Layers{Compression: c}, err
	}
	plain, err := decrypt(br, ids)
	if err != nil {
		return nil, Layers{Encryption: Age}, err
	}
	pbr := bufio.NewReaderSize(plain, readBuffer)
	if head, err = peekHead(pbr); err != nil {
		return nil, Layers{Encryption: Age}, err
	}
	if bytes.HasPrefix(head, ageMagic) {
		return nil, Layers{Encryption: Age}, fmt.Errorf("%w: age inside age", ErrUnknownFormat)
	}
	rc, c, err := decompress(pbr, head)
	return rc, Layers{Compression: c, Encryption: Age}, err
}

// Decompress is Open for streams that cannot be encrypted: an age-encrypted one fails
// with ErrNoIdentity. It returns the compression found.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	rc, l, err := Open(r, nil)
	return rc, l.Compression, err
}

// peekHead returns the first bytes of br, enough to tell every layer apart, without
// consuming them.
func peekHead(br *bufio.Reader) ([]byte, error) {
	head, err := br.Peek(len(ageMagic))
	if len(head) > 0 {
		return head, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("empty stream: %w", io.ErrUnexpectedEOF)
	}
	return nil, err
}

// decompress returns a reader of the plain archive in br, whose first bytes are head.
func decompress(br *bufio.Reader, head []byte) (io.ReadCloser, Compression, error) {
	switch {
	case bytes.HasPrefix(head, archiveMagic):
		return io.NopCloser(br), None, nil
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		return namedErrors{ReadCloser: zr, name: "gzip"}, Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %w", err)
		}
		return namedErrors{ReadCloser: zstdReadCloser{zr}, name: "zstd"}, Zstd, nil
	}
	return nil, "", ErrUnknownFormat
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }

// namedErrors prefixes the decompressor's errors with its name, so that damaged data says
// which layer found it ("zstd: …"); io.EOF and io.ErrUnexpectedEOF pass unchanged.
type namedErrors struct {
	io.ReadCloser
	name string
}

func (n namedErrors) Read(p []byte) (int, error) {
	k, err := n.ReadCloser.Read(p)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF { // a truncation is the reader's to report
		err = fmt.Errorf("%s: %w", n.name, err)
	}
	return k, err
}
