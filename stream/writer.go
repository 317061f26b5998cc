package stream

import (
	"io"
)

// Encoding says how NewWriter encodes a stream.
type Encoding struct {
	Compression Compression
	Level       int // compression level; 0 = the library's default
	// Recipients, when set, encrypt the compressed stream with age to them.
	Recipients *Recipients
}

// Encryption is the encryption e applies.
func (e Encoding) Encryption() Encryption {
	if e.Recipients != nil {
		return Age
	}
	return Unencrypted
}

// NewWriter wraps w so that what is written to the result is compressed and then, with
// recipients, encrypted: the layers Open takes apart. Closing the result flushes every
// layer, innermost first, but does not close w. It is the one way the tool encodes what it
// stores, backups and any later kind of object alike.
func NewWriter(w io.Writer, e Encoding) (io.WriteCloser, error) {
	var layers []io.WriteCloser // outermost first
	if e.Recipients != nil {
		ew, err := Encrypt(w, e.Recipients)
		if err != nil {
			return nil, err
		}
		layers = append(layers, ew)
		w = ew
	}
	zw, err := Compress(w, e.Compression, e.Level)
	if err != nil {
		return nil, err
	}
	return &layered{top: zw, layers: append(layers, zw)}, nil
}

// layered writes to its innermost layer and closes every layer, innermost first.
type layered struct {
	top    io.Writer
	layers []io.WriteCloser
}

func (l *layered) Write(p []byte) (int, error) { return l.top.Write(p) }

func (l *layered) Close() error {
	for i := len(l.layers) - 1; i >= 0; i-- {
		if err := l.layers[i].Close(); err != nil {
			return err // an outer layer must not seal a stream an inner one failed to finish
		}
	}
	return nil
}
