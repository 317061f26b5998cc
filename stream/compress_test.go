package stream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// archiveLike starts with the archive magic, as every plain stream Decompress accepts does.
func archiveLike(n int) []byte {
	b := append([]byte(nil), archiveMagic...)
	for len(b) < n {
		b = append(b, "documents and more documents "...)
	}
	return b[:n]
}

func compress(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := Compress(&buf, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripDetectsCompression(t *testing.T) {
	data := archiveLike(3 << 20)
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			stored := compress(t, c, data)
			if c != None && len(stored) >= len(data) {
				t.Errorf("%s stored %d bytes of %d: not compressed", c, len(stored), len(data))
			}
			plain, found, err := Decompress(bytes.NewReader(stored))
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			if found != c {
				t.Errorf("detected %q, want %q", found, c)
			}
			got, err := io.ReadAll(plain)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round trip: %d bytes, err %v; want the %d bytes written", len(got), err, len(data))
			}
		})
	}
}

func TestDecompressRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty stream"},
		{"unknown magic", []byte("PK\x03\x04 a zip file"), "unknown magic"},
		{"text", []byte("hello"), "unknown magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decompress(bytes.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decompress = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if _, _, err := Decompress(bytes.NewReader([]byte("????"))); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Decompress(garbage) = %v, want ErrUnknownFormat", err)
	}
}

// TestTruncatedStreamsFail: a compressed object cut short must fail when read, never end
// quietly as if the archive were shorter.
func TestTruncatedStreamsFail(t *testing.T) {
	data := archiveLike(1 << 20)
	for _, c := range []Compression{Zstd, Gzip} {
		stored := compress(t, c, data)
		cut := stored[:len(stored)/2]
		plain, _, err := Decompress(bytes.NewReader(cut))
		if err != nil {
			continue // refused at the header: also a failure, as wanted
		}
		if _, err := io.ReadAll(plain); err == nil {
			t.Errorf("%s cut at half: read to the end without an error", c)
		}
		plain.Close()
	}
}

func TestCompressUnknown(t *testing.T) {
	if _, err := Compress(io.Discard, "lz4", 0); err == nil {
		t.Error("Compress(lz4): no error")
	}
}
