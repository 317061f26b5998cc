package stream

import (
	"strings"
	"testing"
)

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{"zstd": Zstd, "zst": Zstd, "gzip": Gzip, "gz": Gzip, "none": None, "": None} {
		if got, err := ParseCompression(in); err != nil || got != want || !got.Valid() {
			t.Errorf("ParseCompression(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseCompression("lz4"); err == nil || !strings.Contains(err.Error(), `"lz4"`) {
		t.Errorf("ParseCompression(lz4) = %v, want an error naming it", err)
	}
	if Compression("lz4").Valid() {
		t.Error("lz4 valid")
	}
}

func TestEncryptionNames(t *testing.T) {
	if !Age.Valid() || !Unencrypted.Valid() || Encryption("gpg").Valid() {
		t.Error("Valid is wrong")
	}
	if Age.String() != "age" || Unencrypted.String() != "none" {
		t.Errorf("String: %s, %s", Age, Unencrypted)
	}
}
