package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func sampleManifest() *Manifest {
	t0 := time.Date(2026, 11, 25, 18, 48, 54, 123456000, time.UTC)
	return &Manifest{
		FormatVersion: ManifestFormatVersion,
		Tool:          "mongostash",
		ToolVersion:   "v0.1.0",
		ServerVersion: "8.0.4",
		Databases:     []string{"app", "audit"},
		Compression:   stream.Zstd,
		StartedAt:     t0,
		FinishedAt:    t0.Add(93*time.Second + 500*time.Millisecond),
		Size:          123456789,
		SHA256:        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Namespaces: []ManifestNamespace{
			{Namespace: "app.users", Documents: 1200, CRC: "00000000deadbeef"},
			{Namespace: "audit.events", Documents: 0, CRC: "0000000000000000"},
		},
	}
}

// encryptedManifest is sampleManifest for a backup encrypted with age to two recipients.
func encryptedManifest() *Manifest {
	m := sampleManifest()
	m.Encryption = stream.Age
	m.Recipients = []string{
		"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
		"age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg",
	}
	return m
}

// TestManifestGolden pins the manifest's JSON: other tools and older mongostash versions
// read it, so a change of field names must be deliberate (regenerate with -update). An
// unencrypted manifest is byte for byte what mongostash wrote before encryption existed.
func TestManifestGolden(t *testing.T) {
	for file, m := range map[string]*Manifest{
		"manifest-v1.golden.json":     sampleManifest(),
		"manifest-v1-age.golden.json": encryptedManifest(),
	} {
		t.Run(file, func(t *testing.T) {
			s := mem.New()
			if err := WriteManifest(t.Context(), s, "backup-x.dump.zst", m); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Bytes("backup-x.dump.zst.manifest.json")
			golden := filepath.Join("testdata", file)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("manifest JSON =\n%s\nwant (%s)\n%s", got, golden, want)
			}
			decoded, err := DecodeManifest(want)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := jsonOf(t, decoded), jsonOf(t, m); got != want {
				t.Fatalf("decoded golden = %s, want %s", got, want)
			}
		})
	}
}

func TestDecodeManifestErrors(t *testing.T) {
	good := string(jsonBytes(t, sampleManifest()))
	goodAge := string(jsonBytes(t, encryptedManifest()))
	for _, tc := range []struct {
		name, json, want string
	}{
		{"not JSON", "{", "unexpected end"},
		{"empty object", "{}", "format version 0"},
		{"newer format", strings.Replace(good, `"format_version":1`, `"format_version":2`, 1), "newer than this mongostash"},
		{"bad compression", strings.Replace(good, `"compression":"zstd"`, `"compression":"lz4"`, 1), `unknown compression "lz4"`},
		{"negative size", strings.Replace(good, `"size":123456789`, `"size":-1`, 1), "negative size"},
		{"uppercase sha", strings.Replace(good, "9f86d081", "9F86D081", 1), "sha256"},
		{"short sha", strings.Replace(good, "9f86d081", "9f86", 1), "sha256"},
		{"bad crc", strings.Replace(good, "deadbeef", "deadbeeg", 1), "crc"},
		{"negative count", strings.Replace(good, `"documents":1200`, `"documents":-5`, 1), "negative document count"},
		{"wrong type", strings.Replace(good, `"size":123456789`, `"size":"big"`, 1), "cannot unmarshal"},
		{"unknown encryption", strings.Replace(goodAge, `"encryption":"age"`, `"encryption":"gpg"`, 1), `unknown encryption "gpg"`},
		{"age without recipients", strings.Replace(good, `"compression":"zstd"`, `"compression":"zstd","encryption":"age"`, 1), "age with 0 recipients"},
		{"recipients unencrypted", strings.Replace(goodAge, `"encryption":"age",`, ``, 1), "none with 2 recipients"},
		{"identity as recipient", strings.Replace(goodAge, `"age1ql3z`, `"AGE-SECRET-KEY-1QL3Z`, 1), "recipient 1 is not an age public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeManifest([]byte(tc.json))
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeManifest = %v, want ErrInvalidManifest mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("the error repeats what looks like an identity: %v", err)
			}
		})
	}
	// Unknown fields are a newer writer's additions, not an error.
	if _, err := DecodeManifest([]byte(strings.Replace(good, "{", `{"future_field":[1,2],`, 1))); err != nil {
		t.Fatalf("DecodeManifest with an unknown field: %v", err)
	}
}

func TestReadManifestErrors(t *testing.T) {
	s := mem.New()
	if _, err := ReadManifest(t.Context(), s, "absent"); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "absent.manifest.json") {
		t.Errorf("ReadManifest(absent) = %v, want ErrNotFound naming the manifest", err)
	}
	s.SetBytes("big"+ManifestSuffix, bytes.Repeat([]byte(" "), maxManifestSize+1))
	if _, err := ReadManifest(t.Context(), s, "big"); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("ReadManifest(huge) = %v, want ErrInvalidManifest", err)
	}
	if err := WriteManifest(t.Context(), s, "k", &Manifest{Compression: "lz4"}); err == nil {
		t.Error("WriteManifest of an invalid manifest: no error")
	}
	if err := WriteManifest(t.Context(), s, "k", nil); err == nil {
		t.Error("WriteManifest(nil): no error")
	}
}

func jsonBytes(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonOf(t *testing.T, v any) string { return string(jsonBytes(t, v)) }
