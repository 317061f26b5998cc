package archive

import (
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"io"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// readBufSize is the Reader's initial buffer. It grows, only as data
// actually arrives, to hold a larger document: never beyond MaxDocumentSize.
const readBufSize = 64 * 1024

// Record is one item of the data section: a body document of a namespace, or
// the end of a namespace.
type Record struct {
	DB, Collection string   // as in the block header ("" and "oplog" for the oplog)
	Doc            bson.Raw // nil for an EOF record; valid only until the next Next call
	EOF            bool     // this record is the namespace's EOF: its CRC matched (a mismatch is an error instead)
	CRC            uint64   // for an EOF record, the namespace's CRC; 0 otherwise
}

// Namespace returns DB + "." + Collection (".oplog" for the oplog).
func (rec Record) Namespace() string { return rec.DB + "." + rec.Collection }

// NamespaceStats is what a Reader has seen of one namespace.
type NamespaceStats struct {
	Docs  int64  // body documents
	Bytes int64  // their total size
	CRC   uint64 // CRC-64/ECMA of those bytes so far
	Done  bool   // its EOF block was read and the CRC matched
}

// Reader reads a mongodump archive: the prelude, then the documents of every
// namespace in stream order, verifying each namespace's CRC at its EOF block.
// It enforces the rules mongorestore does and reports violations as *Error
// values wrapping a sentinel. Its first error is sticky.
type Reader struct {
	src    io.Reader
	srcErr error // sticky error of src, io.EOF included
	buf    []byte
	r, w   int   // unread bytes are buf[r:w]
	off    int64 // stream offset of buf[r]
	alloc  int64 // bytes of buffer allocated, for the tests' allocation bound

	started bool
	prelude Prelude
	err     error // sticky; io.EOF after a clean end

	byKey map[string]*readerNS
	all   []*readerNS // in prelude order
	key   []byte      // scratch for map lookups
	cur   *readerNS   // namespace of the open block, nil between blocks
	oplog bool        // the oplog has been opened
}

type readerNS struct {
	db, coll, name string // data namespace
	oplog          bool
	state          uint8
	stats          NamespaceStats
}

// NewReader returns a Reader reading from r. It does no I/O.
func NewReader(r io.Reader) *Reader { return &Reader{src: r} }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int64 { return r.off }

func (r *Reader) errAt(off int64, ns *readerNS, sentinel error, format string, args ...any) error {
	e := &Error{Offset: off, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
	if ns != nil {
		e.Namespace = ns.name
	}
	return e
}

// fill makes at least n bytes available in buf[r:w]. It returns io.EOF if the
// stream ended with no byte available, io.ErrUnexpectedEOF if it ended with
// fewer than n, or the source's error.
func (r *Reader) fill(n int) error {
	stalls := 0
	for r.w-r.r < n {
		if r.srcErr != nil {
			if r.srcErr == io.EOF {
				if r.w == r.r {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return r.srcErr
		}
		if len(r.buf)-r.r < n && r.r > 0 {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		}
		if r.buf == nil || (r.w == len(r.buf) && len(r.buf) < n) {
			size := readBufSize
			if r.buf != nil {
				size = min(2*len(r.buf), n)
			}
			nb := make([]byte, size)
			r.alloc += int64(size)
			r.w = copy(nb, r.buf[r.r:r.w])
			r.r = 0
			r.buf = nb
		}
		m, err := r.src.Read(r.buf[r.w:])
		if m < 0 || m > len(r.buf)-r.w {
			err = fmt.Errorf("invalid read count %d", m)
			m = 0
		}
		r.w += m
		if err != nil {
			r.srcErr = err
		} else if m == 0 {
			if stalls++; stalls > 100 {
				r.srcErr = io.ErrNoProgress
			}
		}
	}
	return nil
}

// readErr converts a fill error into the Reader's error for an item starting
// at offset off; what names the item.
func (r *Reader) readErr(err error, off int64, ns *readerNS, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.errAt(off, ns, io.ErrUnexpectedEOF, "stream ends inside %s", what)
	}
	return r.errAt(off, ns, err, "reading %s", what)
}

// next4 reads a length prefix or terminator. It returns io.EOF untouched if
// the stream ends cleanly before it.
func (r *Reader) next4(ns *readerNS, what string) (uint32, error) {
	if err := r.fill(4); err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, r.readErr(err, r.off, ns, what)
	}
	return binary.LittleEndian.Uint32(r.buf[r.r:]), nil
}

// readDoc reads the document whose length prefix l is at buf[r:] and returns
// it; it stays valid until the next fill.
func (r *Reader) readDoc(l uint32, ns *readerNS, what string) ([]byte, error) {
	off := r.off
	if l < minDocSize || l > MaxDocumentSize {
		return nil, r.errAt(off, ns, ErrDocumentSize, "%s: %d is neither a valid BSON length (%d..%d) nor a terminator", what, l, minDocSize, MaxDocumentSize)
	}
	n := int(l)
	if err := r.fill(n); err != nil {
		return nil, r.readErr(err, off, ns, what)
	}
	doc := r.buf[r.r : r.r+n]
	if doc[n-1] != 0 {
		return nil, r.errAt(off, ns, ErrBadDocument, "%s: %d-byte document ends with 0x%02x", what, n, doc[n-1])
	}
	r.r += n
	r.off += int64(n)
	return doc, nil
}

func (r *Reader) skip4() {
	r.r += 4
	r.off += 4
}

// Prelude reads the magic number and the prelude on its first call and
// returns it (the same value on later calls). The result must not be
// modified.
func (r *Reader) Prelude() (*Prelude, error) {
	if !r.started {
		r.started = true
		r.err = r.readPrelude()
	}
	if r.byKey == nil {
		return nil, r.err
	}
	return &r.prelude, nil
}

func (r *Reader) readPrelude() error {
	if err := r.fill(4); err != nil {
		return r.readErr(err, 0, nil, "the magic number")
	}
	if m := binary.LittleEndian.Uint32(r.buf[r.r:]); m != magic {
		return r.errAt(0, nil, ErrBadMagic, "got %08x, want %08x: not a mongodump archive", m, uint32(magic))
	}
	r.skip4()

	off := r.off
	l, err := r.next4(nil, "the archive header")
	if err == io.EOF {
		return r.readErr(io.ErrUnexpectedEOF, off, nil, "the archive header")
	} else if err != nil {
		return err
	}
	if l == terminator {
		return r.errAt(off, nil, ErrBadPrelude, "terminator where the archive header should be")
	}
	doc, err := r.readDoc(l, nil, "archive header")
	if err != nil {
		return err
	}
	h, err := decodeHeader(doc)
	if err != nil {
		return r.errAt(off, nil, ErrBadPrelude, "archive header: %v", err)
	}
	var entries []Entry
	for {
		off := r.off
		l, err := r.next4(nil, "the prelude")
		if err == io.EOF {
			return r.readErr(io.ErrUnexpectedEOF, off, nil, "the prelude")
		} else if err != nil {
			return err
		}
		if l == terminator {
			r.skip4()
			break
		}
		doc, err := r.readDoc(l, nil, "prelude entry")
		if err != nil {
			return err
		}
		e, err := decodeEntry(doc)
		if err != nil {
			return r.errAt(off, nil, ErrBadPrelude, "collection entry %d: %v", len(entries), err)
		}
		entries = append(entries, e)
	}
	p := Prelude{Header: h, Entries: entries}
	data, err := checkPrelude(&p)
	if err != nil {
		return &Error{Offset: r.off, Err: err}
	}
	r.prelude = p
	r.byKey = make(map[string]*readerNS, len(entries))
	r.all = make([]*readerNS, len(entries))
	for i, d := range data {
		ns := &readerNS{db: d[0], coll: d[1], name: d[0] + "." + d[1], oplog: isOplog(d[0], d[1])}
		r.all[i] = ns
		r.byKey[nsKey(ns.db, ns.coll)] = ns
	}
	return nil
}

// Next returns the next record of the data section: a body document, or the
// EOF of a namespace whose CRC matched. It returns io.EOF at the clean end of
// the archive, and an error wrapping io.ErrUnexpectedEOF if the stream is
// truncated: inside a document or block, or at a block boundary while a
// namespace is unfinished (also ErrUnfinished) or never seen (also
// ErrNamespaceMissing). Record.Doc is valid only until the next call.
func (r *Reader) Next() (Record, error) {
	if !r.started {
		if _, err := r.Prelude(); err != nil {
			return Record{}, err
		}
	}
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
	}
	return rec, err
}

func (r *Reader) next() (Record, error) {
	for {
		if ns := r.cur; ns != nil {
			rec, ok, err := r.nextInBlock(ns)
			if err != nil || ok {
				return rec, err
			}
			continue // the block ended
		}
		// Between blocks: a namespace header, or the clean end.
		off := r.off
		l, err := r.next4(nil, "a namespace header")
		if err == io.EOF {
			return Record{}, r.finish()
		} else if err != nil {
			return Record{}, err
		}
		if l == terminator {
			return Record{}, r.errAt(off, nil, ErrBadNamespaceHeader, "terminator where a namespace header should be (consecutive terminators or headerless block)")
		}
		doc, err := r.readDoc(l, nil, "namespace header")
		if err != nil {
			return Record{}, err
		}
		dbb, collb, eof, crc, err := parseNSHeader(doc)
		if err != nil {
			return Record{}, r.errAt(off, nil, ErrBadNamespaceHeader, "%v", err)
		}
		ns, err := r.openNamespace(off, dbb, collb, eof)
		if err != nil {
			return Record{}, err
		}
		if !eof {
			r.cur = ns
			continue
		}
		return r.closeNamespace(off, ns, crc)
	}
}

// nextInBlock reads the next document of the block of ns; ok is false when the block ended
// there (at its terminator).
func (r *Reader) nextInBlock(ns *readerNS) (rec Record, ok bool, err error) {
	off := r.off
	l, err := r.next4(ns, "a block")
	if err == io.EOF {
		return Record{}, false, r.errAt(off, ns, io.ErrUnexpectedEOF, "stream ends inside a block")
	} else if err != nil {
		return Record{}, false, err
	}
	if l == terminator {
		r.skip4()
		r.cur = nil
		return Record{}, false, nil
	}
	doc, err := r.readDoc(l, ns, "body document")
	if err != nil {
		return Record{}, false, err
	}
	ns.stats.CRC = crc64.Update(ns.stats.CRC, crcTable, doc)
	ns.stats.Docs++
	ns.stats.Bytes += int64(len(doc))
	return Record{DB: ns.db, Collection: ns.coll, Doc: doc}, true, nil
}

// openNamespace finds the namespace of the header at off and checks it may have a block
// now, opening it at its first one.
func (r *Reader) openNamespace(off int64, dbb, collb []byte, eof bool) (*readerNS, error) {
	r.key = append(append(append(r.key[:0], dbb...), 0), collb...)
	ns := r.byKey[string(r.key)]
	if ns == nil {
		return nil, r.errAt(off, nil, ErrUnknownNamespace, "block for %q", string(dbb)+"."+string(collb))
	}
	if ns.state == nsClosed {
		return nil, r.errAt(off, ns, ErrNamespaceReopened, "header (EOF=%t) after the namespace's EOF", eof)
	}
	if ns.state == nsUnopened {
		if err := r.checkOrder(off, ns); err != nil {
			return nil, err
		}
		ns.state = nsOpen
		if ns.oplog {
			r.oplog = true
		}
	}
	return ns, nil
}

// closeNamespace ends ns at its EOF header (at off, with the CRC it stores): the CRC must
// be the one computed, and the header is followed by a terminator, an EOF block having no
// body.
func (r *Reader) closeNamespace(off int64, ns *readerNS, crc uint64) (Record, error) {
	if crc != ns.stats.CRC {
		return Record{}, r.errAt(off, ns, ErrCRCMismatch, "computed %d != stored %d", ns.stats.CRC, crc)
	}
	toff := r.off
	l, err := r.next4(ns, "an EOF block")
	if err == io.EOF {
		return Record{}, r.errAt(toff, ns, io.ErrUnexpectedEOF, "stream ends inside an EOF block")
	} else if err != nil {
		return Record{}, err
	}
	if l != terminator {
		return Record{}, r.errAt(toff, ns, ErrBadNamespaceHeader, "EOF header followed by a document instead of a terminator")
	}
	r.skip4()
	ns.state = nsClosed
	ns.stats.Done = true
	return Record{DB: ns.db, Collection: ns.coll, EOF: true, CRC: crc}, nil
}

// checkOrder enforces what mongorestore needs of the oplog: it starts only
// after every other namespace's EOF, and nothing else follows it.
func (r *Reader) checkOrder(off int64, ns *readerNS) error {
	if r.oplog {
		return r.errAt(off, ns, ErrOrder, "namespace starts after the oplog")
	}
	if !ns.oplog {
		return nil
	}
	for _, o := range r.all {
		if o != ns && o.state == nsOpen {
			return r.errAt(off, ns, ErrOrder, "oplog starts while %q is unfinished", o.name)
		}
	}
	return nil
}

// finish checks, at the clean end of the stream, that every namespace was
// seen and finished.
func (r *Reader) finish() error {
	var open, never []string
	for _, ns := range r.all {
		switch ns.state {
		case nsOpen:
			open = append(open, ns.name)
		case nsUnopened:
			never = append(never, ns.name)
		}
	}
	switch {
	case len(open) > 0:
		return &Error{Offset: r.off, Err: ErrUnfinished, early: true,
			Detail: "archive ends but " + strings.Join(open, ", ") + " never got an EOF block"}
	case len(never) > 0:
		return &Error{Offset: r.off, Err: ErrNamespaceMissing, early: true,
			Detail: "archive ends before " + strings.Join(never, ", ") + " was seen"}
	}
	return io.EOF
}

// Stats returns, for every namespace listed in the prelude (keyed by its
// data namespace, e.g. "db.system.buckets.X" for old time-series), what was
// read of it so far.
func (r *Reader) Stats() map[string]NamespaceStats {
	m := make(map[string]NamespaceStats, len(r.all))
	for _, ns := range r.all {
		m[ns.name] = ns.stats
	}
	return m
}
