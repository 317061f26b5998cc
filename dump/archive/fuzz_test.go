package archive

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// fuzzSeedMax leaves the 300 KB FerretDB archive out of the fuzz seeds: the
// golden tests cover it, and inputs that size slow every mutation down.
const fuzzSeedMax = 64 * 1024

// FuzzReader decodes arbitrary bytes. Whatever happens it must not panic,
// must return *Error values, and must allocate in proportion to its input
// (never ahead of data). Whatever decodes must re-encode through the Writer
// and decode again to the same prelude, documents, CRCs and namespace ends.
func FuzzReader(f *testing.F) {
	for _, pattern := range []string{"testdata/*.archive", "testdata/golden/*.archive"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) <= fuzzSeedMax {
				f.Add(data)
			}
		}
	}
	f.Add(validArchive())
	f.Add(prelude("a").hdr("db", "a").doc(d1).term().eof("db", "a", crcOf(d1)+1).term().b)
	f.Add((&ab{}).magic().header(testHeader).entry(Entry{DB: "db", Collection: "a"}).entry(Entry{Collection: "oplog"}).term().
		hdr("db", "a").term().eof("db", "a", 0).term().hdr("", "oplog").doc(d1).term().eof("", "oplog", crcOf(d1)).term().b)
	f.Add((&ab{}).magic().header(Header{0, "", "5.0.0", ""}).entry(Entry{DB: "db", Collection: "ts", Type: "timeseries"}).term().
		hdr("db", "system.buckets.ts").doc(d2).term().eof("db", "system.buckets.ts", crcOf(d2)).term().b)

	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := decodeArchive(data)
		runtime.ReadMemStats(&after)
		if limit := int64(max(readBufSize, 2*len(data))); d.alloc > limit {
			t.Fatalf("reader buffers: %d bytes allocated for a %d-byte input", d.alloc, len(data))
		}
		// Everything: buffers, prelude strings, the copies decodeArchive keeps.
		if total, limit := after.TotalAlloc-before.TotalAlloc, uint64(1<<20+64*len(data)); total > limit {
			t.Fatalf("%d bytes allocated decoding a %d-byte input (limit %d)", total, len(data), limit)
		}
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			return
		}
		chunk := DefaultChunkSize
		if len(data)%2 == 1 {
			chunk = 100 // also exercise chunking and interleaving
		}
		enc, err := reencode(d, chunk)
		if err != nil {
			t.Fatalf("decoded archive does not re-encode: %v", err)
		}
		d2, err := decodeArchive(enc)
		if err != nil {
			t.Fatalf("re-encoded archive does not decode: %v", err)
		}
		if err := sameDecoding(d, d2); err != nil {
			t.Fatalf("re-encoded archive decodes differently: %v", err)
		}
	})
}

// FuzzParseMetadata parses arbitrary metadata text. What parses and formats
// must parse back to the same Metadata and format to the same text.
func FuzzParseMetadata(f *testing.F) {
	for _, file := range []string{
		"spec-1.7-golden-vector.archive",
		"mongodump-100.18.0-ferretdb-shop.archive",
		"mongodump-100.3.1-timeseries.archive",
		"mongodump-r3.4.3-test-bar.archive",
		"mongodump-r4.1.3-oplog.archive",
		"mongodump-r4.2.2-quoted-index-key.archive",
	} {
		d, err := decodeArchive(readTestdata(f, file))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range d.prelude.Entries {
			f.Add(e.Metadata)
		}
	}
	for _, s := range []string{
		`{"options":{"x":{"$binary":"AAEC","$type":"04"}},"indexes":[{"v":2,"key":{"a":1.5,"b":-1,"c":3000000000}}]}`,
		`{"indexes":[{"key":{"x"y":1,"p":{"q"r":2}}}]}`,
		`{"options":{"d":{"$date":"1970-01-01T00:00:00Z"}},"indexes":[]}`,
		`{"options":{"validator":{"$expr":"a<b&&c>d \"q\" \\ \n\t\u0001 \u2028 é"}},"indexes":[],"collectionName":"c<&>"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseMetadata(text)
		if err != nil {
			if !errors.Is(err, ErrBadMetadata) {
				t.Fatalf("error %v does not wrap ErrBadMetadata", err)
			}
			return
		}
		out, err := FormatMetadata(m)
		if err != nil {
			if !errors.Is(err, ErrBadMetadata) {
				t.Fatalf("error %v does not wrap ErrBadMetadata", err)
			}
			return // e.g. strings that are not UTF-8: mongodump refuses them too
		}
		m2, err := ParseMetadata(out)
		if err != nil {
			t.Fatalf("formatted metadata %s does not parse: %v", out, err)
		}
		if !sameMetadata(m, m2) {
			t.Fatalf("round trip changed the metadata:\n%+v\n%+v", m, m2)
		}
		out2, err := FormatMetadata(m2)
		if err != nil || out2 != out {
			t.Fatalf("formatting is not stable:\n%s\n%s (%v)", out, out2, err)
		}
	})
}
