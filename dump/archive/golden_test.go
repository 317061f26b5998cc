package archive

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"hash/crc64"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type nsWant struct {
	docs int64
	crc  uint64
}

// goldenArchives are the real mongodump archives of testdata: the expected namespaces,
// counts and CRCs are those its README lists for each file.
var goldenArchives = []struct {
	file   string
	header Header
	ns     map[string]nsWant // by data namespace
}{
	{
		file:   "spec-1.7-golden-vector.archive",
		header: Header{4, "0.1", "8.0.4", "100.18.0"},
		ns:     map[string]nsWant{"db.c": {1, 0xF3EA61436A4459FE}},
	},
	{
		file:   "mongodump-100.18.0-ferretdb-shop.archive",
		header: Header{1, "0.1", "7.0.42", "100.18.0"},
		ns: map[string]nsWant{
			"shop.events":  {1, 0x1b858ba73cacffba},
			"shop.metrics": {1, 0xcddda86562960c48},
			"shop.orders":  {1000, 0x8aedac45e2b5bc6a},
			"shop.users":   {2, 0x8c01273b49c3fc88},
		},
	},
	{
		file:   "mongodump-100.3.1-timeseries.archive",
		header: Header{4, "0.1", "5.0.0-rc0", "100.3.1-9-g6903606e-dirty"},
		ns: map[string]nsWant{
			"admin.system.version":                  {1, 0x509d986e92154e53},
			"admin.system.views":                    {0, 0},
			"timeseries_test.system.buckets.foo_ts": {10, 0x401f4fd88569654f},
		},
	},
	{
		file:   "mongodump-r3.4.3-test-bar.archive",
		header: Header{4, "0.1", "3.4.3", "r3.4.3"},
		ns: map[string]nsWant{
			"admin.system.version": {1, 0xf685812fd02a263e},
			"test.bar":             {1, 0x9369f0f35bec50d9},
		},
	},
	{
		file:   "mongodump-r4.1.3-oplog.archive",
		header: Header{4, "0.1", "4.0.2", "r4.1.3-4-gd9eefb54"},
		ns: map[string]nsWant{
			"admin.system.version": {1, 0x0cb0ef0ea1d16e0d},
			"test.foo":             {25, 0x9cc6a0e47a6d6d82},
			".oplog":               {18, 0x803bd1a62aaa916c},
		},
	},
	{
		file:   "mongodump-r4.2.2-quoted-index-key.archive",
		header: Header{4, "0.1", "4.0.14", "r4.2.2"},
		ns:     map[string]nsWant{"test.ixtest": {0, 0}},
	},
}

func TestGoldenArchivesDecode(t *testing.T) {
	for _, tc := range goldenArchives {
		t.Run(tc.file, func(t *testing.T) {
			d, err := decodeArchive(readTestdata(t, tc.file))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got, want := d.prelude.Header, tc.header; got != want {
				t.Errorf("header: got %+v, want %+v", got, want)
			}
			if got, want := len(d.prelude.Entries), len(tc.ns); got != want {
				t.Errorf("entries: got %d, want %d", got, want)
			}
			got := map[string]nsWant{}
			for ns, s := range d.stats {
				if !s.Done {
					t.Errorf("%s: not done", ns)
				}
				got[ns] = nsWant{s.Docs, s.CRC}
			}
			if !reflect.DeepEqual(got, tc.ns) {
				t.Errorf("namespaces: got %x, want %x", got, tc.ns)
			}
			// Every namespace ends with an EOF record carrying its CRC, once.
			_, ends, crcs := d.perNamespace()
			if len(ends) != len(tc.ns) {
				t.Errorf("EOF records: got %q, want one per namespace", ends)
			}
			for ns, w := range tc.ns {
				if crcs[ns] != w.crc {
					t.Errorf("%s: EOF record CRC %x, want %x", ns, crcs[ns], w.crc)
				}
			}
		})
	}
}

// The gzipped dump is a second run of the same dump: its prelude lists the
// entries in another (hash-map) order, everything else decodes the same.
func TestGoldenGzipDecodesLikePlain(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(readTestdata(t, "mongodump-100.18.0-ferretdb-shop.archive.gz")))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeArchive(unzipped)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeArchive(readTestdata(t, "mongodump-100.18.0-ferretdb-shop.archive"))
	if err != nil {
		t.Fatal(err)
	}
	sortEntries := func(es []Entry) []Entry {
		es = slices.Clone(es)
		slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Namespace(), b.Namespace()) })
		return es
	}
	if g, w := sortEntries(got.prelude.Entries), sortEntries(want.prelude.Entries); !slices.Equal(g, w) {
		t.Errorf("entries: got %+v, want %+v", g, w)
	}
	got.prelude.Entries = want.prelude.Entries
	if err := sameDecoding(want, got); err != nil {
		t.Error(err)
	}
}

func TestGoldenArchivesRoundTrip(t *testing.T) {
	for _, tc := range goldenArchives {
		for _, chunk := range []int{DefaultChunkSize, 64} {
			t.Run(tc.file, func(t *testing.T) {
				orig := readTestdata(t, tc.file)
				d, err := decodeArchive(orig)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				enc, err := reencode(d, chunk)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				d2, err := decodeArchive(enc)
				if err != nil {
					t.Fatalf("decode re-encoded: %v", err)
				}
				if err := sameDecoding(d, d2); err != nil {
					t.Errorf("re-encoded archive decodes differently: %v", err)
				}
				// All golden archives are sequential (one namespace at a time)
				// and block boundaries depend only on namespace changes, so
				// they come out identical whatever the chunk size.
				if !bytes.Equal(enc, orig) {
					t.Errorf("re-encoded bytes differ from the original (chunk %d): %d vs %d bytes, first difference at %d",
						chunk, len(enc), len(orig), firstDiff(enc, orig))
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSpecVector writes the 374-byte vector of docs/archive-format.md §1.7 from
// scratch through the public API.
func TestSpecVector(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	err := w.WritePrelude(Prelude{
		Header: Header{ConcurrentCollections: 4, Version: "0.1", ServerVersion: "8.0.4", ToolVersion: "100.18.0"},
		Entries: []Entry{{DB: "db", Collection: "c", Type: "collection",
			Metadata: `{"indexes":[],"collectionName":"c","type":"collection"}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	nw, err := w.Open(t.Context(), "db", "c")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := hex.DecodeString("0e000000105f6964000100000000")
	if err := nw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := nw.CRC(), uint64(0xF3EA61436A4459FE); got != want {
		t.Errorf("CRC: got %x, want %x", got, want)
	}
	if got, want := nw.Count(), int64(1); got != want {
		t.Errorf("Count: got %d, want %d", got, want)
	}
	if got, want := buf.Bytes(), readTestdata(t, "spec-1.7-golden-vector.archive"); !bytes.Equal(got, want) {
		t.Errorf("got\n%x\nwant\n%x", got, want)
	}
	// The metadata of the vector is what FormatMetadata makes of it.
	m, err := ParseMetadata(`{"indexes":[],"collectionName":"c","type":"collection"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := FormatMetadata(m); err != nil || got != `{"indexes":[],"collectionName":"c","type":"collection"}` {
		t.Errorf("FormatMetadata: got %s, %v", got, err)
	}
}

func TestCRCCheckValue(t *testing.T) {
	if got, want := crc64.Checksum([]byte("123456789"), crcTable), uint64(0x995DC9BBDF1939FA); got != want {
		t.Errorf("got %x, want %x", got, want)
	}
}
