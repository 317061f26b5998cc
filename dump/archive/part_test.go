package archive

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestPartsFillOneNamespace: four Parts write one namespace at once while another
// namespace is written beside them; the reader finds every document once, in one
// namespace whose CRC (checked by the reader) and count are those of the documents in
// stream order, and the writer's Count and CRC agree with it. Oversized documents go out
// alone from a Part too.
func TestPartsFillOneNamespace(t *testing.T) {
	const parts = 4
	var buf bytes.Buffer
	w := NewWriterSize(&buf, 600)
	if err := w.WritePrelude(Prelude{Header: testHeader, Entries: entries("db.big", "db.small")}); err != nil {
		t.Fatal(err)
	}
	big, err := w.Open(t.Context(), "db", "big")
	if err != nil {
		t.Fatal(err)
	}
	small, err := w.Open(t.Context(), "db", "small")
	if err != nil {
		t.Fatal(err)
	}
	docsOf := func(part int) [][]byte {
		var ds [][]byte
		for j := range 200 {
			pad := (j * 13) % 90
			if j == 77 {
				pad = 1000 // above the chunk size
			}
			ds = append(ds, testDoc(int32(part*1000+j), pad))
		}
		return ds
	}
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := big.Part()
			if err != nil {
				t.Error(err)
				return
			}
			for _, d := range docsOf(i) {
				if err := p.Write(bytes.Clone(d)); err != nil {
					t.Error(err)
					return
				}
			}
			if err := p.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	for j := range 300 {
		if err := small.Write(testDoc(int32(j), 40)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, nw := range []*NamespaceWriter{big, small} {
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := decodeArchive(buf.Bytes())
	if err != nil {
		t.Fatalf("the reader refuses the archive: %v", err)
	}
	docs, ends, crcs := d.perNamespace()
	if len(ends) != 2 {
		t.Fatalf("ends %v", ends)
	}
	var want [][]byte
	for i := range parts {
		want = append(want, docsOf(i)...)
	}
	got := docs["db.big"]
	if len(got) != len(want) || big.Count() != int64(len(want)) {
		t.Fatalf("%d documents read, %d counted, want %d", len(got), big.Count(), len(want))
	}
	if crcs["db.big"] != crcOf(got...) || big.CRC() != crcs["db.big"] {
		t.Errorf("CRC in the stream %x, writer %x, of the documents as read %x", crcs["db.big"], big.CRC(), crcOf(got...))
	}
	sorted := func(ds [][]byte) [][]byte {
		out := slices.Clone(ds)
		slices.SortFunc(out, bytes.Compare)
		return out
	}
	if !slices.EqualFunc(sorted(got), sorted(want), bytes.Equal) {
		t.Error("the documents read are not those written")
	}
	if l := layout(t, buf.Bytes()); !bytes.Contains([]byte(l), []byte("db.small")) {
		t.Errorf("layout %s", l)
	}
}

// TestPartsRules: a namespace with Parts refuses its own Write, and closing it while a
// Part is open fails the archive; a Part cannot start after the namespace's own writes.
func TestPartsRules(t *testing.T) {
	newNS := func(t *testing.T) (*Writer, *NamespaceWriter) {
		w := NewWriterSize(&bytes.Buffer{}, 1024)
		if err := w.WritePrelude(Prelude{Header: testHeader, Entries: entries("db.c")}); err != nil {
			t.Fatal(err)
		}
		nw, err := w.Open(t.Context(), "db", "c")
		if err != nil {
			t.Fatal(err)
		}
		return w, nw
	}
	for _, c := range []struct {
		name string
		do   func(nw *NamespaceWriter) error
		want error
	}{
		{"write after part", func(nw *NamespaceWriter) error {
			if _, err := nw.Part(); err != nil {
				return err
			}
			return nw.Write(testDoc(1, 0))
		}, ErrOrder},
		{"close with a part open", func(nw *NamespaceWriter) error {
			p, err := nw.Part()
			if err != nil {
				return err
			}
			if err := p.Write(testDoc(1, 0)); err != nil {
				return err
			}
			return nw.Close()
		}, ErrUnfinished},
		{"part after own writes", func(nw *NamespaceWriter) error {
			if err := nw.Write(testDoc(1, 0)); err != nil {
				return err
			}
			_, err := nw.Part()
			return err
		}, ErrOrder},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, nw := newNS(t)
			if err := c.do(nw); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if err := w.Close(); !errors.Is(err, c.want) {
				t.Errorf("the writer's sticky error is %v, want %v", err, c.want)
			}
		})
	}
}
