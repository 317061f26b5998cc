package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// layout describes the block structure of an archive's data section:
// "db.a[2] db.b[1] db.a[EOF]" — one item per block, with its body count.
func layout(t *testing.T, data []byte) string {
	t.Helper()
	p := 4
	read := func() (uint32, []byte) {
		n := binary.LittleEndian.Uint32(data[p:])
		if n == terminator {
			p += 4
			return n, nil
		}
		d := data[p : p+int(n)]
		p += int(n)
		return n, d
	}
	read()
	for n, _ := read(); n != terminator; n, _ = read() {
	}
	var out []string
	for p < len(data) {
		_, h := read()
		db, coll, eof, _, err := parseNSHeader(h)
		if err != nil {
			t.Fatalf("layout: %v", err)
		}
		docs := 0
		for n, _ := read(); n != terminator; n, _ = read() {
			docs++
		}
		item := fmt.Sprintf("%s.%s[%d]", db, coll, docs)
		if eof {
			item = fmt.Sprintf("%s.%s[EOF]", db, coll)
		}
		out = append(out, item)
	}
	return strings.Join(out, " ")
}

type writeOp struct {
	ns    string // "db.coll"
	doc   []byte // nil: close the namespace
	close bool
}

// writeArchive runs ops in order on one goroutine and returns the archive.
func writeArchive(t *testing.T, p Prelude, chunk int, ops []writeOp) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriterSize(&buf, chunk)
	if err := w.WritePrelude(p); err != nil {
		t.Fatal(err)
	}
	open := map[string]*NamespaceWriter{}
	for _, op := range ops {
		nw := open[op.ns]
		if nw == nil {
			db, coll := splitNS(op.ns)
			var err error
			if nw, err = w.Open(t.Context(), db, coll); err != nil {
				t.Fatal(err)
			}
			open[op.ns] = nw
		}
		if op.close {
			if err := nw.Close(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := nw.Write(op.doc); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entries(nss ...string) []Entry {
	var es []Entry
	for _, ns := range nss {
		db, coll := splitNS(ns)
		typ := "collection"
		if db == "" {
			typ = ""
		}
		es = append(es, Entry{DB: db, Collection: coll, Type: typ, Metadata: `{"indexes":[],"collectionName":"` + coll + `"}`})
	}
	return es
}

func wr(ns string, d []byte) writeOp { return writeOp{ns: ns, doc: d} }
func cl(ns string) writeOp           { return writeOp{ns: ns, close: true} }

// TestWriterGolden checks the block structure mongodump's multiplexer
// produces (§1.5) and keeps the bytes in testdata/golden/<case>.archive.
func TestWriterGolden(t *testing.T) {
	a, b := testDoc(1, 40), testDoc(2, 40) // 60 bytes each
	tests := []struct {
		name   string
		p      Prelude
		chunk  int
		ops    []writeOp
		layout string
	}{
		{
			name: "empty-namespace", p: Prelude{Header: testHeader, Entries: entries("db.a")},
			ops:    []writeOp{cl("db.a")},
			layout: "db.a[0] db.a[EOF]",
		},
		{
			name: "views-and-empty", p: Prelude{Header: testHeader, Entries: []Entry{
				{DB: "db", Collection: "v", Type: "view", Metadata: `{"options":{"viewOn":"c","pipeline":[]},"indexes":[],"collectionName":"v","type":"view"}`},
				{DB: "db", Collection: "c", Type: "collection", Metadata: `{"indexes":[],"collectionName":"c","type":"collection"}`},
			}},
			ops:    []writeOp{cl("db.v"), wr("db.c", a), cl("db.c")},
			layout: "db.v[0] db.v[EOF] db.c[1] db.c[EOF]",
		},
		{
			// Chunks of one namespace in a row merge into one block.
			name: "chunks-merge", p: Prelude{Header: testHeader, Entries: entries("db.a")}, chunk: 130,
			ops:    []writeOp{wr("db.a", a), wr("db.a", b), wr("db.a", a), wr("db.a", b), wr("db.a", a), cl("db.a")},
			layout: "db.a[5] db.a[EOF]",
		},
		{
			// Two documents fit a chunk: each namespace's buffer goes out when
			// the third arrives, and a header is written only on a change.
			name: "interleaved", p: Prelude{Header: testHeader, Entries: entries("db.a", "db.b")}, chunk: 130,
			ops: []writeOp{
				wr("db.a", a), wr("db.b", b), wr("db.a", a), wr("db.b", b),
				wr("db.a", a), wr("db.b", b), wr("db.a", a), wr("db.a", a),
				wr("db.a", a), cl("db.b"), cl("db.a"),
			},
			layout: "db.a[2] db.b[2] db.a[2] db.b[1] db.b[EOF] db.a[2] db.a[EOF]",
		},
		{
			// A document larger than the chunk goes out alone, after the buffer.
			name: "oversized-document", p: Prelude{Header: testHeader, Entries: entries("db.a")}, chunk: 100,
			ops:    []writeOp{wr("db.a", testDoc(1, 10)), wr("db.a", testDoc(2, 200)), wr("db.a", testDoc(3, 10)), cl("db.a")},
			layout: "db.a[3] db.a[EOF]",
		},
		{
			name: "oplog-last", p: Prelude{Header: testHeader, Entries: entries("db.a", ".oplog")},
			ops:    []writeOp{wr("db.a", a), cl("db.a"), wr(".oplog", b), cl(".oplog")},
			layout: "db.a[1] db.a[EOF] .oplog[1] .oplog[EOF]",
		},
		{
			name: "timeseries-buckets", p: Prelude{Header: Header{4, "0.1", "7.0.2", "test"}, Entries: []Entry{{DB: "db", Collection: "ts", Type: "timeseries"}}},
			ops:    []writeOp{wr("db.system.buckets.ts", a), cl("db.system.buckets.ts")},
			layout: "db.system.buckets.ts[1] db.system.buckets.ts[EOF]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := writeArchive(t, tc.p, tc.chunk, tc.ops)
			if l := layout(t, got); l != tc.layout {
				t.Errorf("layout: got %s, want %s", l, tc.layout)
			}
			// What was written decodes to what was given.
			d, err := decodeArchive(got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			docs, _, _ := d.perNamespace()
			want := map[string][][]byte{}
			for _, op := range tc.ops {
				if !op.close {
					want[op.ns] = append(want[op.ns], op.doc)
				}
			}
			if fmt.Sprint(docs) != fmt.Sprint(want) {
				t.Errorf("documents: got %v, want %v", docs, want)
			}
			path := filepath.Join("testdata", "golden", tc.name+".archive")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want2, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want2) {
				t.Errorf("bytes differ from %s (first difference at %d)", path, firstDiff(got, want2))
			}
		})
	}
}

// The exact bytes of an empty namespace: header(EOF=false) TERM header(EOF=true,CRC=0) TERM.
func TestWriterEmptyNamespaceBytes(t *testing.T) {
	p := Prelude{Header: testHeader, Entries: entries("db.a")}
	got := writeArchive(t, p, 0, []writeOp{cl("db.a")})
	pre := (&ab{}).magic().header(testHeader).entry(p.Entries[0]).term().b
	want := (&ab{b: pre}).hdr("db", "a").term().eof("db", "a", 0).term().b
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%x\nwant\n%x", got, want)
	}
}

func TestWriterLegacyEntries(t *testing.T) {
	es := []Entry{{DB: "db", Collection: "a"}}
	tests := []struct {
		tool     string
		entries  []Entry
		withType bool
	}{
		{"100.18.0", es, true},
		{"mongostash 1.0", es, true},
		{"100.4.0", es, true},
		{"100.3.1", es, false},
		{"r4.2.2", es, false},
		{"r3.4.3", es, false},
		{"r4.2.2", []Entry{{DB: "db", Collection: "a", Type: "collection"}}, true},
	}
	for _, tc := range tests {
		p := Prelude{Header: Header{4, "0.1", "4.0.0", tc.tool}, Entries: tc.entries}
		got := writeArchive(t, p, 0, []writeOp{cl("db.a")})
		if has := bytes.Contains(got, []byte("\x02type\x00")); has != tc.withType {
			t.Errorf("tool %q, entries %+v: type field written %t, want %t", tc.tool, tc.entries, has, tc.withType)
		}
	}
}

type failWriter struct {
	calls int // Write calls that succeed before one fails
	n     int // bytes the failing call reports written
	err   error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.calls > 0 {
		f.calls--
		return len(p), nil
	}
	return min(f.n, len(p)), f.err
}

func TestWriterErrors(t *testing.T) {
	boom := errors.New("boom")
	p2 := Prelude{Header: testHeader, Entries: entries("db.a", "db.b")}
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(w *Writer) error // returns the error under test
		out  io.Writer             // nil: io.Discard
		want error
	}{
		{"open before prelude", func(w *Writer) error { _, err := w.Open(ctx, "db", "a"); return err }, nil, ErrNoPrelude},
		{"close before prelude", func(w *Writer) error { return w.Close() }, nil, ErrNoPrelude},
		{"prelude twice", func(w *Writer) error { w.WritePrelude(p2); return w.WritePrelude(p2) }, nil, nil},
		{"bad server version", func(w *Writer) error {
			return w.WritePrelude(Prelude{Header: Header{4, "", "x", ""}})
		}, nil, ErrBadPrelude},
		{"duplicate entry", func(w *Writer) error {
			return w.WritePrelude(Prelude{Header: testHeader, Entries: entries("db.a", "db.a")})
		}, nil, ErrBadPrelude},
		{"time-series colliding with its buckets", func(w *Writer) error {
			return w.WritePrelude(Prelude{Header: testHeader, Entries: []Entry{
				{DB: "db", Collection: "ts", Type: "timeseries"}, {DB: "db", Collection: "system.buckets.ts"}}})
		}, nil, ErrBadPrelude},
		{"empty collection name", func(w *Writer) error {
			return w.WritePrelude(Prelude{Header: testHeader, Entries: []Entry{{DB: "db"}}})
		}, nil, ErrBadPrelude},
		{"entry over 16 MiB", func(w *Writer) error {
			return w.WritePrelude(Prelude{Header: testHeader, Entries: []Entry{{DB: "db", Collection: "a", Metadata: strings.Repeat("x", MaxDocumentSize)}}})
		}, nil, ErrDocumentSize},
		{"unlisted namespace", func(w *Writer) error {
			w.WritePrelude(p2)
			_, err := w.Open(ctx, "db", "zz")
			return err
		}, nil, ErrUnknownNamespace},
		{"time-series under its logical name before 8.3", func(w *Writer) error {
			w.WritePrelude(Prelude{Header: testHeader, Entries: []Entry{{DB: "db", Collection: "ts", Type: "timeseries"}}})
			_, err := w.Open(ctx, "db", "ts")
			return err
		}, nil, ErrUnknownNamespace},
		{"opened twice", func(w *Writer) error {
			w.WritePrelude(p2)
			w.Open(ctx, "db", "a")
			_, err := w.Open(ctx, "db", "a")
			return err
		}, nil, ErrNamespaceReopened},
		{"reopened after close", func(w *Writer) error {
			w.WritePrelude(p2)
			nw, _ := w.Open(ctx, "db", "a")
			nw.Close()
			_, err := w.Open(ctx, "db", "a")
			return err
		}, nil, ErrNamespaceReopened},
		{"oplog before the others finished", func(w *Writer) error {
			w.WritePrelude(Prelude{Header: testHeader, Entries: entries("db.a", ".oplog")})
			_, err := w.Open(ctx, "", "oplog")
			return err
		}, nil, ErrOrder},
		{"namespace after the oplog", func(w *Writer) error {
			w.WritePrelude(Prelude{Header: testHeader, Entries: entries("db.a", "db.b", ".oplog")})
			for _, c := range []string{"a"} {
				nw, _ := w.Open(ctx, "db", c)
				nw.Close()
			}
			// db.b is still unopened: the oplog may not start.
			_, err := w.Open(ctx, "", "oplog")
			return err
		}, nil, ErrOrder},
		{"document length mismatch", func(w *Writer) error {
			w.WritePrelude(p2)
			nw, _ := w.Open(ctx, "db", "a")
			d := testDoc(1, 0)
			return nw.Write(append(d, 0))
		}, nil, ErrDocumentSize},
		{"document too short", func(w *Writer) error {
			w.WritePrelude(p2)
			nw, _ := w.Open(ctx, "db", "a")
			return nw.Write([]byte{4, 0, 0, 0})
		}, nil, ErrDocumentSize},
		{"document too large", func(w *Writer) error {
			w.WritePrelude(p2)
			nw, _ := w.Open(ctx, "db", "a")
			d := make([]byte, MaxDocumentSize+1)
			binary.LittleEndian.PutUint32(d, uint32(len(d)))
			return nw.Write(d)
		}, nil, ErrDocumentSize},
		{"document without trailing null", func(w *Writer) error {
			w.WritePrelude(p2)
			nw, _ := w.Open(ctx, "db", "a")
			return nw.Write([]byte{5, 0, 0, 0, 1})
		}, nil, ErrBadDocument},
		{"write after namespace close", func(w *Writer) error {
			w.WritePrelude(p2)
			nw, _ := w.Open(ctx, "db", "a")
			nw.Close()
			return nw.Write(testDoc(1, 0))
		}, nil, ErrClosed},
		{"close with a namespace open", func(w *Writer) error {
			w.WritePrelude(p2)
			w.Open(ctx, "db", "a")
			return w.Close()
		}, nil, ErrUnfinished},
		{"close with a namespace never written", func(w *Writer) error {
			w.WritePrelude(p2)
			nw, _ := w.Open(ctx, "db", "a")
			nw.Close()
			return w.Close()
		}, nil, ErrUnfinished},
		{"open after close", func(w *Writer) error {
			w.WritePrelude(Prelude{Header: testHeader})
			w.Close()
			_, err := w.Open(ctx, "db", "a")
			return err
		}, nil, ErrClosed},
		{"underlying writer fails on the prelude", func(w *Writer) error { return w.WritePrelude(p2) }, &failWriter{n: 10, err: boom}, boom},
		{"short write", func(w *Writer) error { return w.WritePrelude(p2) }, &failWriter{n: 10}, io.ErrShortWrite},
		{"underlying writer fails on a block", func(w *Writer) error {
			if err := w.WritePrelude(p2); err != nil {
				return fmt.Errorf("prelude: %v", err)
			}
			nw, _ := w.Open(ctx, "db", "a")
			nw.Write(testDoc(1, 0))
			return nw.Close()
		}, &failWriter{calls: 1, err: boom}, boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			if out == nil {
				out = io.Discard
			}
			w := NewWriter(out)
			err := tc.run(w)
			if tc.want == nil { // any error will do
				if err == nil {
					t.Fatal("no error")
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "archive: ") {
				t.Errorf("message %q lacks the package prefix", err)
			}
			// The first error is sticky.
			if err2 := w.Close(); err2 != err && !errors.Is(tc.want, ErrClosed) {
				t.Errorf("Close after the error: got %v, want %v", err2, err)
			}
			if _, err2 := w.Open(ctx, "db", "b"); err2 == nil {
				t.Errorf("Open after the error succeeded")
			}
		})
	}
}

func TestWriterOpenWaitsForSlot(t *testing.T) {
	w := NewWriter(io.Discard)
	h := testHeader
	h.ConcurrentCollections = 1
	if err := w.WritePrelude(Prelude{Header: h, Entries: entries("db.a", "db.b")}); err != nil {
		t.Fatal(err)
	}
	a, err := w.Open(t.Context(), "db", "a")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		b, err := w.Open(t.Context(), "db", "b")
		if err == nil {
			err = b.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("second Open returned (%v) while the only slot was taken", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterOpenCancelled(t *testing.T) {
	w := NewWriter(io.Discard)
	h := testHeader
	h.ConcurrentCollections = 1
	w.WritePrelude(Prelude{Header: h, Entries: entries("db.a", "db.b")})
	if _, err := w.Open(t.Context(), "db", "a"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := w.Open(ctx, "db", "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

// A waiting Open returns as soon as another namespace makes the writer fail.
func TestWriterOpenWakesOnFailure(t *testing.T) {
	w := NewWriter(io.Discard)
	h := testHeader
	h.ConcurrentCollections = 1
	w.WritePrelude(Prelude{Header: h, Entries: entries("db.a", "db.b")})
	a, _ := w.Open(t.Context(), "db", "a")
	done := make(chan error, 1)
	go func() {
		_, err := w.Open(context.Background(), "db", "b")
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	werr := a.Write([]byte{1, 2, 3})
	if !errors.Is(werr, ErrDocumentSize) {
		t.Fatalf("Write: %v", werr)
	}
	select {
	case err := <-done:
		if err != werr {
			t.Errorf("waiting Open: got %v, want %v", err, werr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting Open did not return")
	}
}

func TestWriterMaxDocument(t *testing.T) {
	big := make([]byte, MaxDocumentSize)
	binary.LittleEndian.PutUint32(big, MaxDocumentSize)
	big[100] = 7
	small := testDoc(1, 10)
	p := Prelude{Header: testHeader, Entries: entries("db.a")}
	got := writeArchive(t, p, 1<<20, []writeOp{wr("db.a", small), wr("db.a", big), wr("db.a", small), cl("db.a")})
	if l := layout(t, got); l != "db.a[3] db.a[EOF]" {
		t.Errorf("layout: %s", l)
	}
	d, err := decodeArchive(got)
	if err != nil {
		t.Fatal(err)
	}
	if s := d.stats["db.a"]; s.Docs != 3 || s.CRC != crcOf(small, big, small) {
		t.Errorf("stats: %+v", s)
	}
}

// TestWriterConcurrent: 8 goroutines write 24 namespaces through a writer
// allowing 3 open at once, with small chunks so that blocks interleave.
func TestWriterConcurrent(t *testing.T) {
	const (
		workers = 8
		nss     = 24
		limit   = 3
	)
	var names []string
	for i := range nss {
		names = append(names, fmt.Sprintf("db%d.c%d", i%3, i))
	}
	h := testHeader
	h.ConcurrentCollections = limit
	var buf bytes.Buffer
	w := NewWriterSize(&buf, 512)
	if err := w.WritePrelude(Prelude{Header: h, Entries: entries(names...)}); err != nil {
		t.Fatal(err)
	}
	docsOf := func(i int) [][]byte {
		var ds [][]byte
		for j := range 50 + 37*i {
			ds = append(ds, testDoc(int32(i*100000+j), (i*7+j)%300))
		}
		return ds
	}
	var (
		wg                      sync.WaitGroup
		next, open, top, opened atomic.Int64
		crcs                    sync.Map
		barrier                 sync.WaitGroup // holds the first namespaces open together
	)
	barrier.Add(limit)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scratch := make([]byte, 0, 1024)
			for {
				i := int(next.Add(1) - 1)
				if i >= nss {
					return
				}
				db, coll := splitNS(names[i])
				nw, err := w.Open(t.Context(), db, coll)
				if err != nil {
					t.Error(err)
					return
				}
				if n := open.Add(1); n > top.Load() {
					top.Store(n) // racy max, good enough with the check below
				}
				// The first namespaces to get a slot each write half their
				// documents, then wait for each other: interleaving for sure.
				half := -1
				if opened.Add(1) <= limit {
					half = len(docsOf(i)) / 2
				}
				for j, d := range docsOf(i) {
					if j == half {
						barrier.Done()
						barrier.Wait()
					}
					// The writer copies: reuse one buffer for every document.
					scratch = append(scratch[:0], d...)
					if err := nw.Write(scratch); err != nil {
						t.Error(err)
						return
					}
					clear(scratch)
				}
				open.Add(-1)
				if err := nw.Close(); err != nil {
					t.Error(err)
					return
				}
				crcs.Store(names[i], nw.CRC())
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if top.Load() > limit {
		t.Errorf("%d namespaces open at once, limit %d", top.Load(), limit)
	}
	data := buf.Bytes()
	d, err := decodeArchive(data)
	if err != nil {
		t.Fatal(err)
	}
	docs, ends, got := d.perNamespace()
	if len(ends) != nss {
		t.Errorf("%d EOF records, want %d", len(ends), nss)
	}
	for i, ns := range names {
		want := docsOf(i)
		if len(docs[ns]) != len(want) {
			t.Errorf("%s: %d documents, want %d", ns, len(docs[ns]), len(want))
			continue
		}
		for j := range want {
			if !bytes.Equal(docs[ns][j], want[j]) {
				t.Errorf("%s: document %d differs", ns, j)
				break
			}
		}
		c, _ := crcs.Load(ns)
		if got[ns] != c.(uint64) || got[ns] != crcOf(want...) {
			t.Errorf("%s: CRC %x, writer %x, want %x", ns, got[ns], c, crcOf(want...))
		}
	}
	// In the stream, never more than the limit open (header seen, no EOF yet).
	openNS := map[string]bool{}
	maxOpen := 0
	for _, item := range strings.Fields(layout(t, data)) {
		ns := item[:strings.IndexByte(item, '[')]
		openNS[ns] = !strings.HasSuffix(item, "[EOF]")
		maxOpen = max(maxOpen, countTrue(openNS))
	}
	if maxOpen > limit {
		t.Errorf("stream has %d namespaces open at once, limit %d", maxOpen, limit)
	}
	if maxOpen != limit {
		t.Errorf("stream has at most %d namespaces open at once, want exactly the limit %d", maxOpen, limit)
	}
}
