package pitr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

// TestArchiverEncryptsChunks: with recipients, the stored chunks are age-encrypted (no
// entry readable in them); the identity opens them to the bytes the manifest records.
func TestArchiverEncryptsChunks(t *testing.T) {
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := stream.ParseRecipients(strings.NewReader(key.Recipient().String()))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := stream.ParseIdentities(strings.NewReader(key.String()))
	if err != nil {
		t.Fatal(err)
	}
	m := testenv.NewMongoWithOplog(t)
	s := mem.New()
	opts := archOptions(s)
	opts.Encoding = stream.Encoding{Compression: stream.Zstd, Recipients: rs}
	r := startArchiver(t, m.Client, opts)
	writeOps(t, m, "secret_collection", 0, 20)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	oc, _ := archived(t, s)
	if len(oc.Chunks) == 0 {
		t.Fatal("no chunk written")
	}
	for _, c := range oc.Chunks {
		if !strings.HasSuffix(c.Key, ".bson.zst.age") || c.Manifest == nil || c.Manifest.Encryption != stream.Age ||
			fmt.Sprint(c.Manifest.Recipients) != fmt.Sprint([]string{key.Recipient().String()}) {
			t.Errorf("%s: an encrypted chunk's key ends .age and its manifest names the encryption and recipients: %+v", c.Key, c.Manifest)
		}
		rc, err := s.Get(context.Background(), c.Key)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(stored, []byte("secret_collection")) {
			t.Errorf("%s holds plaintext", c.Key)
		}
		if _, _, err := stream.Open(bytes.NewReader(stored), nil); !errors.Is(err, stream.ErrNoIdentity) {
			t.Errorf("%s opened without an identity: %v", c.Key, err)
		}
		plainR, layers, err := stream.Open(bytes.NewReader(stored), ids)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(plainR)
		if err != nil {
			t.Fatal(err)
		}
		crc := catalog.FormatCRC32C(crc32.Checksum(plain, crc32.MakeTable(crc32.Castagnoli)))
		if layers.Encryption != stream.Age || int64(len(plain)) != c.Manifest.RawSize || crc != c.Manifest.CRC32C {
			t.Errorf("%s: layers %+v, %d plain bytes (CRC-32C %s), manifest %d (%s)", c.Key, layers, len(plain), crc, c.Manifest.RawSize, c.Manifest.CRC32C)
		}
	}
}
