package stream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// OpenAs is Open for objects whose plain bytes carry no magic of their own, such as oplog
// chunks (BSON documents one after another): without compression their first bytes are a
// document's length, which Open cannot tell from a compressor's magic. The caller's record
// of the compression (a chunk's manifest) decides whether there is a compression layer;
// the age layer is still detected from the bytes, and a compression layer that is not the
// expected one is an error, never a guess.
func OpenAs(r io.Reader, ids *Identities, c Compression) (io.ReadCloser, Layers, error) {
	br := bufio.NewReaderSize(r, readBuffer)
	layers := Layers{Encryption: Unencrypted, Compression: None}
	if c == None && emptyStream(br) {
		return io.NopCloser(br), layers, nil // an uncompressed object of no entries
	}
	head, err := peekHead(br)
	if err != nil {
		return nil, Layers{}, err
	}
	if bytes.HasPrefix(head, ageMagic) {
		plain, err := decrypt(br, ids)
		if err != nil {
			return nil, Layers{Encryption: Age}, err
		}
		layers.Encryption = Age
		br = bufio.NewReaderSize(plain, readBuffer)
		if c == None && emptyStream(br) {
			return io.NopCloser(br), layers, nil
		}
		if head, err = peekHead(br); err != nil {
			return nil, layers, err
		}
	}
	if c == None {
		return io.NopCloser(br), layers, nil
	}
	rc, found, err := decompress(br, head)
	if err != nil {
		return nil, layers, err
	}
	layers.Compression = found
	if found != c {
		rc.Close()
		return nil, layers, fmt.Errorf("%w: the stream is %s, expected %s", ErrUnknownFormat, found, c)
	}
	return rc, layers, nil
}

// emptyStream reports whether br holds no byte at all (a read error is left to the reader).
func emptyStream(br *bufio.Reader) bool {
	_, err := br.Peek(1)
	return err == io.EOF
}
