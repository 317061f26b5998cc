package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// record is a copied Record.
type record struct {
	ns  string
	doc []byte
	eof bool
	crc uint64
}

// decoded is everything a Reader yields for one archive.
type decoded struct {
	prelude Prelude
	records []record
	stats   map[string]NamespaceStats
	maxOpen int   // most namespaces open at once, counted from first record to EOF
	alloc   int64 // Reader buffer bytes allocated
}

// decodeArchive reads data to its end; err is nil only for a clean end.
func decodeArchive(data []byte) (*decoded, error) {
	r := NewReader(bytes.NewReader(data))
	p, err := r.Prelude()
	d := &decoded{}
	if err != nil {
		d.alloc = r.alloc
		return d, err
	}
	d.prelude = *p
	open := map[string]bool{}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			d.alloc = r.alloc
			return d, err
		}
		ns := rec.Namespace()
		if !open[ns] {
			open[ns] = true
			d.maxOpen = max(d.maxOpen, countTrue(open))
		}
		if rec.EOF {
			open[ns] = false
		}
		d.records = append(d.records, record{ns: ns, doc: bytes.Clone(rec.Doc), eof: rec.EOF, crc: rec.CRC})
	}
	if _, err := r.Next(); err != io.EOF {
		return d, fmt.Errorf("Next after the end: %v, want io.EOF", err)
	}
	d.stats = r.Stats()
	d.alloc = r.alloc
	return d, nil
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// perNamespace returns each namespace's documents in order and the order in
// which namespaces ended: what "decodes to the same" compares, since block
// boundaries and interleaving carry no meaning.
func (d *decoded) perNamespace() (map[string][][]byte, []string, map[string]uint64) {
	docs := map[string][][]byte{}
	crcs := map[string]uint64{}
	var ends []string
	for _, r := range d.records {
		if r.eof {
			ends = append(ends, r.ns)
			crcs[r.ns] = r.crc
			continue
		}
		docs[r.ns] = append(docs[r.ns], r.doc)
	}
	return docs, ends, crcs
}

// reencode writes d again through a Writer the way a copying tool would:
// each namespace is opened at its first record and closed at its EOF.
func reencode(d *decoded, chunkSize int) ([]byte, error) {
	var buf bytes.Buffer
	w := NewWriterSize(&buf, chunkSize)
	p := d.prelude
	p.Entries = slices.Clone(p.Entries)
	if int(p.Header.ConcurrentCollections) < d.maxOpen {
		p.Header.ConcurrentCollections = int32(d.maxOpen)
	}
	if err := w.WritePrelude(p); err != nil {
		return nil, err
	}
	open := map[string]*NamespaceWriter{}
	for _, r := range d.records {
		nw := open[r.ns]
		if nw == nil {
			db, coll := splitNS(r.ns)
			var err error
			if nw, err = w.Open(context.Background(), db, coll); err != nil {
				return nil, err
			}
			open[r.ns] = nw
		}
		if r.eof {
			if err := nw.Close(); err != nil {
				return nil, err
			}
			if nw.CRC() != r.crc {
				return nil, fmt.Errorf("%s: writer CRC %x, reader CRC %x", r.ns, nw.CRC(), r.crc)
			}
			continue
		}
		if err := nw.Write(r.doc); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// splitNS splits at the first dot: database names never contain one.
func splitNS(ns string) (string, string) {
	for i := 0; i < len(ns); i++ {
		if ns[i] == '.' {
			return ns[:i], ns[i+1:]
		}
	}
	return ns, ""
}

// sameDecoding reports how b differs from a (re-encoded from a): same
// prelude (the Writer fills an empty version and may have raised
// concurrent_collections to the interleaving width), same documents per
// namespace, same CRCs, same order of namespace ends, same stats.
func sameDecoding(a, b *decoded) error {
	pa := a.prelude
	if pa.Header.Version == "" {
		pa.Header.Version = FormatVersion
	}
	if int(pa.Header.ConcurrentCollections) < a.maxOpen {
		pa.Header.ConcurrentCollections = int32(a.maxOpen)
	}
	if !reflect.DeepEqual(pa.Header, b.prelude.Header) {
		return fmt.Errorf("header: got %+v, want %+v", b.prelude.Header, pa.Header)
	}
	if !slices.Equal(pa.Entries, b.prelude.Entries) {
		return fmt.Errorf("entries: got %+v, want %+v", b.prelude.Entries, pa.Entries)
	}
	da, ea, ca := a.perNamespace()
	db, eb, cb := b.perNamespace()
	if !reflect.DeepEqual(ea, eb) {
		return fmt.Errorf("namespace ends: got %q, want %q", eb, ea)
	}
	if !reflect.DeepEqual(ca, cb) {
		return fmt.Errorf("CRCs: got %x, want %x", cb, ca)
	}
	if len(da) != len(db) {
		return fmt.Errorf("namespaces with documents: got %d, want %d", len(db), len(da))
	}
	for ns, docs := range da {
		if !reflect.DeepEqual(docs, db[ns]) {
			return fmt.Errorf("%s: documents differ (%d vs %d)", ns, len(db[ns]), len(docs))
		}
	}
	if !reflect.DeepEqual(a.stats, b.stats) {
		return fmt.Errorf("stats: got %+v, want %+v", b.stats, a.stats)
	}
	return nil
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// doc builds a BSON document {_id: int32(id), s: <pad bytes of 'x'>}.
func testDoc(id int32, pad int) []byte {
	b, s := beginDoc(nil)
	b = appendInt32Elem(b, "_id", id)
	if pad > 0 {
		b = appendStringElem(b, "s", string(bytes.Repeat([]byte{'x'}, pad)))
	}
	return endDoc(b, s)
}
