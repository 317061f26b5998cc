package stream

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestZstdWindow: backups are written with a 2 MiB zstd window (docs/safety.md, "Memory and the local disk"), which
// bounds what a restore's decoder holds too.
func TestZstdWindow(t *testing.T) {
	data := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.IntN(16)) // compressible, but not trivially
	}
	var buf bytes.Buffer
	zw, err := Compress(&buf, Zstd, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if h.WindowSize == 0 || h.WindowSize > zstdWindow {
		t.Errorf("window %d bytes, want at most %d", h.WindowSize, zstdWindow)
	}
}
