package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// rawDoc starts like a gzip stream: a BSON length of 0x8b1f bytes, 1F 8B in little endian.
// Open would take it for gzip; OpenAs with None must not.
var rawDoc = append([]byte{0x1f, 0x8b, 0, 0}, bytes.Repeat([]byte{7}, 0x8b1f-4)...)

// TestOpenAs: the caller's compression decides whether there is a compression layer, the
// age layer is found from the bytes, a layer other than the expected one is an error, and
// an empty uncompressed object reads as empty.
func TestOpenAs(t *testing.T) {
	id, rcpt := newKey(t)
	rs, ids := recipients(t, rcpt), identities(t, id)
	cases := []struct {
		name   string
		stored []byte
		c      Compression
		ids    *Identities
		enc    Encryption
	}{
		{"plain bytes that look like gzip", rawDoc, None, nil, Unencrypted},
		{"encrypted plain bytes", encode(t, Encoding{Compression: None, Recipients: rs}, rawDoc), None, ids, Age},
		{"zstd", encode(t, Encoding{Compression: Zstd}, rawDoc), Zstd, nil, Unencrypted},
		{"encrypted gzip", encode(t, Encoding{Compression: Gzip, Recipients: rs}, rawDoc), Gzip, ids, Age},
	}
	for _, tc := range cases {
		rc, l, err := OpenAs(bytes.NewReader(tc.stored), tc.ids, tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, rawDoc) || l.Compression != tc.c || l.Encryption != tc.enc {
			t.Errorf("%s: %d bytes, layers %+v, %v", tc.name, len(got), l, err)
		}
	}
	if _, _, err := OpenAs(bytes.NewReader(encode(t, Encoding{Compression: Zstd}, rawDoc)), nil, Gzip); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("zstd where gzip was expected: %v", err)
	}
	rc, _, err := OpenAs(bytes.NewReader(nil), nil, None)
	if err != nil {
		t.Fatalf("empty uncompressed object: %v", err)
	}
	if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
		t.Errorf("empty uncompressed object read %d bytes, %v", len(b), err)
	}
	if _, _, err := OpenAs(bytes.NewReader(encode(t, Encoding{Compression: None, Recipients: rs}, rawDoc)), nil, None); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("encrypted without identity: %v", err)
	}
}
