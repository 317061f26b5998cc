package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc64"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// ab assembles archives byte by byte, valid or not.
type ab struct{ b []byte }

func (a *ab) magic() *ab              { a.b = binary.LittleEndian.AppendUint32(a.b, magic); return a }
func (a *ab) term() *ab               { a.b = appendTerm(a.b); return a }
func (a *ab) raw(p ...byte) *ab       { a.b = append(a.b, p...); return a }
func (a *ab) doc(d []byte) *ab        { a.b = append(a.b, d...); return a }
func (a *ab) header(h Header) *ab     { a.b = appendHeaderDoc(a.b, h); return a }
func (a *ab) entry(e Entry) *ab       { a.b = appendEntryDoc(a.b, e, true); return a }
func (a *ab) hdr(db, coll string) *ab { a.b = appendNSHeader(a.b, db, coll, false, 0); return a }
func (a *ab) eof(db, coll string, crc uint64) *ab {
	a.b = appendNSHeader(a.b, db, coll, true, crc)
	return a
}

var testHeader = Header{ConcurrentCollections: 4, Version: "0.1", ServerVersion: "8.0.4", ToolVersion: "test"}

// prelude starts an archive listing the given collections of db "db".
func prelude(colls ...string) *ab {
	a := (&ab{}).magic().header(testHeader)
	for _, c := range colls {
		a.entry(Entry{DB: "db", Collection: c, Type: "collection"})
	}
	return a.term()
}

func crcOf(docs ...[]byte) uint64 {
	var c uint64
	for _, d := range docs {
		c = crc64.Update(c, crcTable, d)
	}
	return c
}

// customDoc builds a document from raw element bytes.
func customDoc(elems ...[]byte) []byte {
	b, s := beginDoc(nil)
	for _, e := range elems {
		b = append(b, e...)
	}
	return endDoc(b, s)
}

func elemString(k, v string) []byte { return appendStringElem(nil, k, v) }
func elemBool(k string, v byte) []byte {
	return append(appendCString([]byte{0x08}, k), v)
}
func elemInt64(k string, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(appendCString([]byte{0x12}, k), v)
}
func elemInt32(k string, v int32) []byte { return appendInt32Elem(nil, k, v) }

var (
	d1 = testDoc(1, 10)
	d2 = testDoc(2, 20)
	d3 = testDoc(3, 0)
)

// validArchive: db.a has d1 d2, db.b has d3, interleaved.
func validArchive() []byte {
	return prelude("a", "b").
		hdr("db", "a").doc(d1).term().
		hdr("db", "b").doc(d3).term().
		hdr("db", "a").doc(d2).term().
		eof("db", "a", crcOf(d1, d2)).term().
		eof("db", "b", crcOf(d3)).term().b
}

func TestReaderValid(t *testing.T) {
	d, err := decodeArchive(validArchive())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range d.records {
		if r.eof {
			got = append(got, r.ns+":EOF")
		} else {
			got = append(got, r.ns+":"+string(rune('0'+r.doc[9])))
		}
	}
	if want := []string{"db.a:1", "db.b:3", "db.a:2", "db.a:EOF", "db.b:EOF"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("records: got %q, want %q", got, want)
	}
	want := map[string]NamespaceStats{
		"db.a": {Docs: 2, Bytes: int64(len(d1) + len(d2)), CRC: crcOf(d1, d2), Done: true},
		"db.b": {Docs: 1, Bytes: int64(len(d3)), CRC: crcOf(d3), Done: true},
	}
	for ns, w := range want {
		if d.stats[ns] != w {
			t.Errorf("%s: got %+v, want %+v", ns, d.stats[ns], w)
		}
	}
}

func TestReaderOffsetAndPrelude(t *testing.T) {
	data := validArchive()
	r := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
	if r.Offset() != 0 {
		t.Fatalf("offset before reading: %d", r.Offset())
	}
	p, err := r.Prelude()
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := r.Prelude(); p2 != p {
		t.Error("second Prelude call returned another value")
	}
	if got, want := r.Offset(), int64(len(prelude("a", "b").b)); got != want {
		t.Errorf("offset after prelude: got %d, want %d", got, want)
	}
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := r.Offset(), int64(len(data)); got != want {
		t.Errorf("offset at end: got %d, want %d", got, want)
	}
}

func TestReaderAccepts(t *testing.T) {
	big := make([]byte, MaxDocumentSize)
	binary.LittleEndian.PutUint32(big, MaxDocumentSize)
	tests := []struct {
		name string
		data []byte
	}{
		{"EOF without a prior block", prelude("a").eof("db", "a", 0).term().b},
		{"empty namespace as mongodump writes it", prelude("a").hdr("db", "a").term().eof("db", "a", 0).term().b},
		{"no entries at all", prelude().b},
		{"header fields in another order", prelude("a").
			doc(customDoc(elemInt64("CRC", 0), elemBool("EOF", 0), elemString("collection", "a"), elemString("db", "db"))).term().
			eof("db", "a", 0).term().b},
		{"header missing CRC and EOF", prelude("a").doc(customDoc(elemString("db", "db"), elemString("collection", "a"))).term().
			eof("db", "a", 0).term().b},
		{"document of exactly 16 MiB", prelude("a").hdr("db", "a").doc(big).term().eof("db", "a", crcOf(big)).term().b},
		{"lenient prelude types", (&ab{}).magic().
			doc(customDoc(elemInt64("concurrent_collections", 2), elemString("server_version", "7.0.0"), elemString("x", "y"))).
			doc(customDoc(elemString("db", "db"), elemString("collection", "a"), elemInt64("size", 0), elemInt32("extra", 1))).term().
			hdr("db", "a").term().eof("db", "a", 0).term().b},
		{"time-series buckets before 8.3", (&ab{}).magic().header(Header{4, "0.1", "5.0.0-rc0", "t"}).
			entry(Entry{DB: "db", Collection: "ts", Type: "timeseries"}).term().
			hdr("db", "system.buckets.ts").doc(d1).term().eof("db", "system.buckets.ts", crcOf(d1)).term().b},
		{"time-series under the logical name from 8.3", (&ab{}).magic().header(Header{4, "0.1", "8.3.0", "t"}).
			entry(Entry{DB: "db", Collection: "ts", Type: "timeseries"}).term().
			hdr("db", "ts").doc(d1).term().eof("db", "ts", crcOf(d1)).term().b},
		{"oplog last", (&ab{}).magic().header(testHeader).entry(Entry{DB: "db", Collection: "a"}).entry(Entry{Collection: "oplog"}).term().
			hdr("db", "a").term().eof("db", "a", 0).term().hdr("", "oplog").doc(d1).term().eof("", "oplog", crcOf(d1)).term().b},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeArchive(tc.data); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReaderRejects(t *testing.T) {
	va := validArchive()
	tests := []struct {
		name   string
		data   []byte
		want   error
		detail string // substring of the message
		offset int64  // -1: not checked
	}{
		{"empty input", nil, io.ErrUnexpectedEOF, "magic", 0},
		{"bad magic", append([]byte{0x6d, 0xe2, 0x99, 0x80}, va[4:]...), ErrBadMagic, "not a mongodump archive", 0},
		{"gzip instead of archive", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, ErrBadMagic, "", 0},
		{"terminator instead of the header", (&ab{}).magic().term().b, ErrBadPrelude, "terminator", 4},
		{"header field of the wrong type", (&ab{}).magic().doc(customDoc(elemInt64("server_version", 1))).term().b, ErrBadPrelude, "server_version", 4},
		{"unparseable server version", (&ab{}).magic().header(Header{4, "0.1", "8.0", "t"}).term().b, ErrBadPrelude, "MAJOR.MINOR.PATCH", -1},
		{"entry listed twice", prelude("a", "a").b, ErrBadPrelude, "twice", -1},
		{"entry without collection", (&ab{}).magic().header(testHeader).entry(Entry{DB: "db"}).term().b, ErrBadPrelude, "empty collection", -1},
		{"non-oplog entry without db", (&ab{}).magic().header(testHeader).entry(Entry{Collection: "x"}).term().b, ErrBadPrelude, "only the oplog", -1},
		{"db name with a dot", (&ab{}).magic().header(testHeader).entry(Entry{DB: "a.b", Collection: "x"}).term().b, ErrBadPrelude, "dot", -1},
		{"entry string of length 0", (&ab{}).magic().header(testHeader).doc(customDoc([]byte{2, 'd', 'b', 0, 0, 0, 0, 0})).term().b, ErrBadPrelude, "", -1},
		{"header string of length 0", (&ab{}).magic().doc(customDoc([]byte{2, 'v', 0, 0, 0, 0, 0})).term().b, ErrBadPrelude, "", -1},
		{"entry of the wrong type", (&ab{}).magic().header(testHeader).doc(customDoc(elemInt32("db", 1))).term().b, ErrBadPrelude, "db", -1},
		{"prelude truncated", prelude("a").b[:60], io.ErrUnexpectedEOF, "", -1},
		{"document too short", prelude("a").raw(4, 0, 0, 0).b, ErrDocumentSize, "neither a valid BSON length", int64(len(prelude("a").b))},
		{"document over 16 MiB", prelude("a").raw(1, 0, 0, 1).b, ErrDocumentSize, "16777217", -1},
		{"body document over 16 MiB", prelude("a").hdr("db", "a").raw(1, 0, 0, 1, 0, 0).b, ErrDocumentSize, "16777217", -1},
		{"no trailing null", prelude("a").hdr("db", "a").raw(6, 0, 0, 0, 0, 1).b, ErrBadDocument, "ends with 0x01", -1},
		{"consecutive terminators", prelude("a").term().b, ErrBadNamespaceHeader, "consecutive terminators", int64(len(prelude("a").b))},
		{"extra header field", prelude("a").doc(customDoc(elemString("db", "db"), elemString("collection", "a"), elemBool("EOF", 0), elemInt64("CRC", 0), elemString("x", ""))).b,
			ErrBadNamespaceHeader, `unexpected field "x"`, -1},
		{"int32 CRC", prelude("a").doc(customDoc(elemString("db", "db"), elemString("collection", "a"), elemBool("EOF", 1), elemInt32("CRC", 0))).b,
			ErrBadNamespaceHeader, "type 0x10", -1},
		{"string EOF", prelude("a").doc(customDoc(elemString("db", "db"), elemString("collection", "a"), elemString("EOF", "true"))).b,
			ErrBadNamespaceHeader, "type 0x02", -1},
		{"boolean out of range", prelude("a").doc(customDoc(elemString("db", "db"), elemString("collection", "a"), elemBool("EOF", 2))).b,
			ErrBadNamespaceHeader, "boolean", -1},
		{"field twice", prelude("a").doc(customDoc(elemString("db", "db"), elemString("collection", "a"), elemString("db", "db"))).b,
			ErrBadNamespaceHeader, "twice", -1},
		{"empty collection in header", prelude("a").doc(customDoc(elemString("db", "db"))).b, ErrBadNamespaceHeader, "empty collection", -1},
		{"bad string length in header", prelude("a").doc(customDoc([]byte{2, 'd', 'b', 0, 0xff, 0, 0, 0, 0})).b, ErrBadNamespaceHeader, "string length", -1},
		{"unlisted namespace", prelude("a").hdr("db", "zz").b, ErrUnknownNamespace, `"db.zz"`, -1},
		{"time-series data under the logical name before 8.3", (&ab{}).magic().header(Header{4, "0.1", "8.2.9", "t"}).
			entry(Entry{DB: "db", Collection: "ts", Type: "timeseries"}).term().hdr("db", "ts").b, ErrUnknownNamespace, "", -1},
		{"time-series buckets from 8.3", (&ab{}).magic().header(Header{4, "0.1", "8.3.0-rc1", "t"}).
			entry(Entry{DB: "db", Collection: "ts", Type: "timeseries"}).term().hdr("db", "system.buckets.ts").b, ErrUnknownNamespace, "", -1},
		{"reopened after EOF", prelude("a").eof("db", "a", 0).term().hdr("db", "a").b, ErrNamespaceReopened, "", -1},
		{"EOF twice", prelude("a").eof("db", "a", 0).term().eof("db", "a", 0).term().b, ErrNamespaceReopened, "", -1},
		{"CRC mismatch", prelude("a").hdr("db", "a").doc(d1).term().eof("db", "a", crcOf(d1)+1).term().b, ErrCRCMismatch, "computed", -1},
		{"document after the EOF header", prelude("a").eof("db", "a", 0).doc(d1).term().b, ErrBadNamespaceHeader, "instead of a terminator", -1},
		{"ends inside a block", prelude("a").hdr("db", "a").doc(d1).b, io.ErrUnexpectedEOF, "inside a block", -1},
		{"ends inside a document", prelude("a").hdr("db", "a").doc(d1[:8]).b, io.ErrUnexpectedEOF, "inside body document", -1},
		{"ends after an EOF header", prelude("a").eof("db", "a", 0).b, io.ErrUnexpectedEOF, "EOF block", -1},
		{"namespace never finished", prelude("a").hdr("db", "a").term().b, ErrUnfinished, "never got an EOF", -1},
		{"namespace never seen", prelude("a", "b").eof("db", "a", 0).term().b, ErrNamespaceMissing, "db.b", -1},
		{"never seen is also an early end", prelude("a", "b").eof("db", "a", 0).term().b, io.ErrUnexpectedEOF, "", -1},
		{"a byte after the last terminator", append(bytes.Clone(va), 0), io.ErrUnexpectedEOF, "", int64(len(va))},
		{"a document after the last terminator", append(bytes.Clone(va), customDoc()...), ErrBadNamespaceHeader, "empty collection", int64(len(va))},
		{"regular namespace after the oplog", (&ab{}).magic().header(testHeader).entry(Entry{DB: "db", Collection: "a"}).entry(Entry{Collection: "oplog"}).term().
			hdr("", "oplog").term().eof("", "oplog", 0).term().hdr("db", "a").b, ErrOrder, "after the oplog", -1},
		{"oplog while another is open", (&ab{}).magic().header(testHeader).entry(Entry{DB: "db", Collection: "a"}).entry(Entry{Collection: "oplog"}).term().
			hdr("db", "a").term().hdr("", "oplog").b, ErrOrder, "unfinished", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decodeArchive(tc.data)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("%v is not an *Error", err)
			}
			if !strings.Contains(err.Error(), tc.detail) || !strings.HasPrefix(err.Error(), "archive: ") {
				t.Errorf("message %q lacks %q", err, tc.detail)
			}
			if tc.offset >= 0 && ae.Offset != tc.offset {
				t.Errorf("offset: got %d, want %d (%v)", ae.Offset, tc.offset, err)
			}
			if d.alloc > 2*int64(len(tc.data))+readBufSize {
				t.Errorf("allocated %d bytes for a %d-byte input", d.alloc, len(tc.data))
			}
		})
	}
}

func TestReaderErrorMessage(t *testing.T) {
	data := prelude("a").hdr("db", "a").doc(d1).term().eof("db", "a", 7).term().b
	_, err := decodeArchive(data)
	off := len(prelude("a").hdr("db", "a").doc(d1).term().b)
	want := "archive: CRC mismatch at offset " + itoa(off) + ` (namespace "db.a"): computed ` + utoa(crcOf(d1)) + " != stored 7"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func itoa(n int) string { return utoa(uint64(n)) }
func utoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestReaderStickyError(t *testing.T) {
	r := NewReader(bytes.NewReader(prelude("a").hdr("db", "zz").b))
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Errorf("got %v then %v, want the same error twice", err1, err2)
	}
	r = NewReader(bytes.NewReader([]byte{1, 2, 3, 4}))
	_, err1 = r.Prelude()
	_, err2 = r.Next()
	if !errors.Is(err1, ErrBadMagic) || err1 != err2 {
		t.Errorf("got %v then %v, want the same ErrBadMagic", err1, err2)
	}
}

func TestReaderSourceError(t *testing.T) {
	boom := errors.New("boom")
	data := validArchive()
	r := NewReader(io.MultiReader(bytes.NewReader(data[:100]), iotest.ErrReader(boom)))
	var err error
	for err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "offset") {
		t.Errorf("got %v, want boom with an offset", err)
	}
}

// truncationInputs are small archives to cut and corrupt.
func truncationInputs(t *testing.T) map[string][]byte {
	return map[string][]byte{
		"synthetic":   validArchive(),
		"spec vector": readTestdata(t, "spec-1.7-golden-vector.archive"),
		"r4.2.2":      readTestdata(t, "mongodump-r4.2.2-quoted-index-key.archive"),
		"r3.4.3":      readTestdata(t, "mongodump-r3.4.3-test-bar.archive"),
	}
}

func TestReaderTruncatedAtEveryOffset(t *testing.T) {
	for name, data := range truncationInputs(t) {
		for n := range len(data) {
			_, err := decodeArchive(data[:n])
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s cut at %d of %d: got %v, want io.ErrUnexpectedEOF", name, n, len(data), err)
			}
		}
	}
}

// bodyRanges returns the byte ranges of body-document contents (after the
// length prefix, before the trailing null byte) in a valid archive.
func bodyRanges(data []byte) [][2]int {
	var out [][2]int
	p := 4
	next := func() (int, bool) { // returns doc length or -1 for TERM
		n := binary.LittleEndian.Uint32(data[p:])
		if n == terminator {
			p += 4
			return -1, true
		}
		p += int(n)
		return int(n), true
	}
	next() // header
	for {
		if n, _ := next(); n < 0 {
			break
		}
	}
	for p < len(data) {
		hstart := p
		next()
		eof := bytes.Contains(data[hstart:p], []byte("EOF\x00\x01"))
		for {
			start := p
			n, _ := next()
			if n < 0 {
				break
			}
			if !eof {
				out = append(out, [2]int{start + 4, start + n - 1})
			}
		}
	}
	return out
}

func TestReaderFlippedBytes(t *testing.T) {
	for name, data := range truncationInputs(t) {
		inBody := map[int]bool{}
		for _, r := range bodyRanges(data) {
			for i := r[0]; i < r[1]; i++ {
				inBody[i] = true
			}
		}
		if name != "r4.2.2" && len(inBody) == 0 {
			t.Fatalf("%s: no body bytes found", name)
		}
		for i := range data {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(data)
				c[i] ^= x
				_, err := decodeArchive(c)
				if inBody[i] && !errors.Is(err, ErrCRCMismatch) {
					t.Errorf("%s: byte %d ^ %02x inside a body document: got %v, want a CRC mismatch", name, i, x, err)
				}
				var ae *Error
				if err != nil && !errors.As(err, &ae) {
					t.Errorf("%s: byte %d ^ %02x: %v is not an *Error", name, i, x, err)
				}
			}
		}
	}
}

// A hostile length prefix must not make the reader allocate ahead of data.
func TestReaderAllocationBound(t *testing.T) {
	data := prelude("a").hdr("db", "a").raw(0, 0, 0, 1).raw(make([]byte, 1000)...).b // claims 16 MiB, has 1 KB
	d, err := decodeArchive(data)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if d.alloc > readBufSize {
		t.Errorf("allocated %d bytes for a %d-byte input", d.alloc, len(data))
	}
}
