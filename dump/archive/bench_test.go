package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const benchDocSize = 500

// realisticDocs returns n distinct documents of exactly benchDocSize bytes
// shaped like an orders collection: ObjectId, strings, numbers, a date, a
// nested address, an array of line items.
func realisticDocs(tb testing.TB, n int) [][]byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa")
	word := func() string { return words[rng.IntN(len(words))] }
	docs := make([][]byte, n)
	for i := range docs {
		var oid bson.ObjectID
		for j := range oid {
			oid[j] = byte(rng.Uint32())
		}
		var items bson.A
		for j := range 3 {
			items = append(items, bson.D{
				{Key: "sku", Value: fmt.Sprintf("SKU-%06d", rng.IntN(1e6))},
				{Key: "qty", Value: int32(1 + j)},
				{Key: "price", Value: float64(rng.IntN(100000)) / 100},
			})
		}
		d := bson.D{
			{Key: "_id", Value: oid},
			{Key: "customer", Value: word() + " " + word()},
			{Key: "email", Value: fmt.Sprintf("%s.%d@example.com", word(), i)},
			{Key: "createdAt", Value: bson.DateTime(1.7e12 + float64(rng.IntN(1e9)))},
			{Key: "status", Value: []string{"new", "paid", "shipped"}[i%3]},
			{Key: "total", Value: float64(rng.IntN(1000000)) / 100},
			{Key: "count", Value: int64(i)},
			{Key: "gift", Value: i%7 == 0},
			{Key: "address", Value: bson.D{
				{Key: "street", Value: fmt.Sprintf("%d %s street", rng.IntN(999), word())},
				{Key: "city", Value: word()},
				{Key: "zip", Value: fmt.Sprintf("%05d", rng.IntN(99999))},
				{Key: "country", Value: "NL"},
			}},
			{Key: "items", Value: items},
			{Key: "tags", Value: bson.A{word(), word()}},
		}
		b, err := bson.Marshal(d)
		if err != nil {
			tb.Fatal(err)
		}
		pad := benchDocSize - len(b) - len("\x02note\x00") - 5
		if pad < 0 {
			tb.Fatalf("document already %d bytes", len(b))
		}
		d = append(d, bson.E{Key: "note", Value: strings.Repeat(word()[:1], pad)})
		if b, err = bson.Marshal(d); err != nil || len(b) != benchDocSize {
			tb.Fatalf("document of %d bytes (%v)", len(b), err)
		}
		docs[i] = b
	}
	return docs
}

func benchWriter(tb testing.TB, out io.Writer) (*Writer, *NamespaceWriter) {
	w := NewWriter(out)
	if err := w.WritePrelude(Prelude{Header: testHeader, Entries: entries("db.orders")}); err != nil {
		tb.Fatal(err)
	}
	nw, err := w.Open(context.Background(), "db", "orders")
	if err != nil {
		tb.Fatal(err)
	}
	return w, nw
}

// BenchmarkWriter: one namespace, ~500-byte documents, to io.Discard; the
// CRC and the copy into the 16 MiB chunk buffer included.
func BenchmarkWriter(b *testing.B) {
	docs := realisticDocs(b, 1024)
	_, nw := benchWriter(b, io.Discard)
	b.SetBytes(benchDocSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := nw.Write(docs[i%len(docs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterParallel: one namespace per goroutine through one Writer.
func BenchmarkWriterParallel(b *testing.B) {
	docs := realisticDocs(b, 1024)
	var names []string
	for i := range 256 {
		names = append(names, fmt.Sprintf("db.c%d", i))
	}
	h := testHeader
	h.ConcurrentCollections = 256
	w := NewWriter(io.Discard)
	if err := w.WritePrelude(Prelude{Header: h, Entries: entries(names...)}); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetBytes(benchDocSize)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		db, coll := splitNS(names[next.Add(1)-1])
		nw, err := w.Open(context.Background(), db, coll)
		if err != nil {
			b.Error(err)
			return
		}
		for i := 0; pb.Next(); i++ {
			if err := nw.Write(docs[i%len(docs)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// endless is an archive that never ends: the prelude, one block header, then
// the same body documents over and over.
type endless struct {
	head, body []byte
	pos        int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	if len(e.head) > 0 {
		n = copy(p, e.head)
		e.head = e.head[n:]
		return n, nil
	}
	for n < len(p) {
		c := copy(p[n:], e.body[e.pos:])
		n += c
		e.pos = (e.pos + c) % len(e.body)
	}
	return n, nil
}

func newEndless(tb testing.TB) *Reader {
	docs := realisticDocs(tb, 1024)
	head := prelude("orders").hdr("db", "orders").b
	return NewReader(&endless{head: head, body: bytes.Join(docs, nil)})
}

// BenchmarkReader: steady-state Next over ~500-byte documents from memory,
// the copy into the read buffer and the CRC included.
func BenchmarkReader(b *testing.B) {
	r := newEndless(b)
	if _, err := r.Prelude(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchDocSize)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rec, err := r.Next()
		if err != nil || len(rec.Doc) != benchDocSize {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderArchive decodes a complete 64 MiB archive written by the
// Writer, per iteration: prelude, EOF and CRC check included.
func BenchmarkReaderArchive(b *testing.B) {
	docs := realisticDocs(b, 1024)
	var buf bytes.Buffer
	w, nw := benchWriter(b, &buf)
	const n = 64 << 20 / benchDocSize
	for i := range n {
		if err := nw.Write(docs[i%len(docs)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := nw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := NewReader(bytes.NewReader(data))
		count := 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if !rec.EOF {
				count++
			}
		}
		if count != n {
			b.Fatalf("%d documents, want %d", count, n)
		}
	}
}

// TestZeroAllocsPerDocument: in steady state neither Write nor Next
// allocates.
func TestZeroAllocsPerDocument(t *testing.T) {
	docs := realisticDocs(t, 64)
	_, nw := benchWriter(t, io.Discard)
	i := 0
	// Warm up past the chunk buffer's growth and one flush.
	for range 2 * DefaultChunkSize / benchDocSize {
		nw.Write(docs[i%len(docs)])
		i++
	}
	if a := testing.AllocsPerRun(10000, func() {
		if err := nw.Write(docs[i%len(docs)]); err != nil {
			t.Fatal(err)
		}
		i++
	}); a != 0 {
		t.Errorf("Writer: %v allocations per document", a)
	}

	r := newEndless(t)
	for range 1000 {
		r.Next()
	}
	if a := testing.AllocsPerRun(10000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Reader: %v allocations per document", a)
	}
}
