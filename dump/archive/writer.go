package archive

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultChunkSize is the per-namespace buffer size of NewWriter: mongodump's
// 16 MiB. A namespace's documents reach the output in chunks of at most this
// size (or one document, if larger), so it bounds memory at
// ConcurrentCollections × chunk size.
const DefaultChunkSize = 16 * 1024 * 1024

// Namespace states, shared by Writer and Reader.
const (
	nsUnopened uint8 = iota
	nsOpen
	nsClosed
)

// Writer writes a mongodump archive. It multiplexes documents of several
// namespaces, written concurrently through NamespaceWriters, into blocks the
// way mongodump does. Its first error is sticky: every later call returns it.
//
// It enforces what the format and mongorestore need (namespaces listed,
// opened once, at most ConcurrentCollections open, the oplog last), but not
// that auth namespaces (admin.system.users/roles/version, X.$admin.system.*)
// are written completely before the first regular one (§5.5): that is up to
// the caller, as is the order of everything else.
type Writer struct {
	w         io.Writer
	chunkSize int

	failedFlag atomic.Bool   // set together with err, for the Write fast path
	failed     chan struct{} // closed together with err

	mu      sync.Mutex // guards the fields below and serialises output
	err     error
	started bool // WritePrelude succeeded
	closed  bool
	byKey   map[string]*writerNS
	all     []*writerNS
	sem     chan struct{}
	cur     *writerNS // namespace of the block currently open in the output
	oplog   bool      // the oplog has been opened
	free    [][]byte  // chunk buffers of closed namespaces, for reuse
	scratch []byte
}

type writerNS struct {
	db, coll string
	state    uint8
}

func (n *writerNS) name() string { return n.db + "." + n.coll }

// NewWriter returns a Writer writing to w with mongodump's 16 MiB chunks.
// It does no I/O.
func NewWriter(w io.Writer) *Writer { return NewWriterSize(w, DefaultChunkSize) }

// NewWriterSize is NewWriter with a per-namespace chunk size of chunkSize
// bytes (values < 1 mean DefaultChunkSize). Only the places where concurrent
// namespaces interleave depend on it.
func NewWriterSize(w io.Writer, chunkSize int) *Writer {
	if chunkSize < 1 {
		chunkSize = DefaultChunkSize
	}
	return &Writer{w: w, chunkSize: chunkSize, failed: make(chan struct{})}
}

// fail records err as the sticky error (if none yet) and returns the sticky
// error. w.mu must be held.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
		w.failedFlag.Store(true)
		close(w.failed)
	}
	return w.err
}

func (w *Writer) stickyErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// write sends b to the underlying writer. w.mu must be held.
func (w *Writer) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := w.w.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return w.fail(fmt.Errorf("archive: write: %w", err))
	}
	return nil
}

// WritePrelude writes the magic number and the prelude. It must be called
// once, before Open. An empty Header.Version is written as FormatVersion.
// Entries are written with their "type" field (empty included), as every
// mongodump since 100.4.0 does, unless Header.ToolVersion names an older
// mongodump ("r4.2.2") and no entry has a Type: then, as that tool, without.
// The entries must name distinct namespaces, have non-empty collection names,
// and only the oplog entry ("", "oplog") may have an empty database name.
func (w *Writer) WritePrelude(p Prelude) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.started || w.closed {
		return w.fail(fmt.Errorf("archive: prelude written twice"))
	}
	if p.Header.Version == "" {
		p.Header.Version = FormatVersion
	}
	data, err := checkPrelude(&p)
	if err != nil {
		return w.fail(err)
	}
	b := binary.LittleEndian.AppendUint32(nil, magic)
	b = appendHeaderDoc(b, p.Header)
	w.byKey = make(map[string]*writerNS, len(p.Entries))
	w.all = make([]*writerNS, len(p.Entries))
	withType := writesEntryType(&p)
	for i, e := range p.Entries {
		start := len(b)
		b = appendEntryDoc(b, e, withType)
		if len(b)-start > MaxDocumentSize {
			return w.fail(fmt.Errorf("%w: prelude entry for %s is %d bytes (max %d)", ErrDocumentSize, e.Namespace(), len(b)-start, MaxDocumentSize))
		}
		ns := &writerNS{db: data[i][0], coll: data[i][1]}
		w.all[i] = ns
		w.byKey[nsKey(ns.db, ns.coll)] = ns
	}
	b = appendTerm(b)
	limit := int(p.Header.ConcurrentCollections)
	if limit < 1 {
		limit = 1
	}
	w.sem = make(chan struct{}, limit)
	w.started = true
	return w.write(b)
}

// Open starts namespace db.collection, which must be listed in the prelude by
// its DataNamespace (time-series buckets before 8.3: "system.buckets.X"; the
// oplog: "", "oplog"). It blocks while Header.ConcurrentCollections (at least
// 1) namespaces are already open; ctx cancels the wait. The oplog can only be
// opened once every other namespace is closed, and nothing after it. Nothing
// is written until the namespace's first chunk or its Close.
func (w *Writer) Open(ctx context.Context, db, collection string) (*NamespaceWriter, error) {
	w.mu.Lock()
	if w.err != nil {
		defer w.mu.Unlock()
		return nil, w.err
	}
	name := db + "." + collection
	var err error
	ns := w.byKey[nsKey(db, collection)]
	switch {
	case !w.started:
		err = fmt.Errorf("%w: open %s", ErrNoPrelude, name)
	case w.closed:
		err = fmt.Errorf("%w: open %s", ErrClosed, name)
	case ns == nil:
		err = fmt.Errorf("%w: %s", ErrUnknownNamespace, name)
	case ns.state != nsUnopened:
		err = fmt.Errorf("%w: %s opened twice", ErrNamespaceReopened, name)
	case w.oplog:
		err = fmt.Errorf("%w: %s opened after the oplog", ErrOrder, name)
	case isOplog(db, collection):
		var pending []string
		for _, o := range w.all {
			if o != ns && o.state != nsClosed {
				pending = append(pending, o.name())
			}
		}
		if len(pending) > 0 {
			err = fmt.Errorf("%w: oplog opened before %s finished", ErrOrder, strings.Join(pending, ", "))
		}
	}
	if err != nil {
		defer w.mu.Unlock()
		return nil, w.fail(err)
	}
	ns.state = nsOpen
	if isOplog(db, collection) {
		w.oplog = true
	}
	w.mu.Unlock()

	select {
	case w.sem <- struct{}{}:
	case <-w.failed:
		return nil, w.stickyErr()
	case <-ctx.Done():
		w.mu.Lock()
		defer w.mu.Unlock()
		return nil, w.fail(fmt.Errorf("archive: open %s: %w", name, ctx.Err()))
	}
	w.mu.Lock()
	var buf []byte
	if n := len(w.free); n > 0 {
		buf, w.free = w.free[n-1], w.free[:n-1]
	}
	w.mu.Unlock()
	return &NamespaceWriter{w: w, ns: ns, buf: buf}, nil
}

// Close checks that every prelude namespace was written and closed. It writes
// nothing (an archive has no trailer) and does not close the underlying
// io.Writer. It returns the sticky error if there is one.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil {
		w.closed = true
		return w.err
	}
	w.closed = true
	if !w.started {
		return w.fail(fmt.Errorf("%w: close", ErrNoPrelude))
	}
	var open, never []string
	for _, ns := range w.all {
		switch ns.state {
		case nsOpen:
			open = append(open, ns.name())
		case nsUnopened:
			never = append(never, ns.name())
		}
	}
	switch {
	case len(open) > 0:
		return w.fail(fmt.Errorf("%w: %s still open at close", ErrUnfinished, strings.Join(open, ", ")))
	case len(never) > 0:
		return w.fail(fmt.Errorf("%w: %s never written", ErrUnfinished, strings.Join(never, ", ")))
	}
	return nil
}

// NamespaceWriter writes the documents of one namespace. It must be used by
// one goroutine at a time; different NamespaceWriters may be used
// concurrently.
type NamespaceWriter struct {
	w      *Writer
	ns     *writerNS
	buf    []byte // pending chunk
	crc    uint64
	count  int64
	closed bool
	err    error       // result of Close
	parts  int         // Parts open (guarded by w.mu); while any is, Write is refused
	parted atomic.Bool // a Part was made: documents go through Parts only
}

// Write appends one complete BSON document (length prefix through trailing
// null byte, at most MaxDocumentSize). The bytes are copied; the caller may
// reuse doc. Its contents are not examined.
func (nw *NamespaceWriter) Write(doc []byte) error {
	w := nw.w
	if nw.closed || w.failedFlag.Load() {
		return nw.lateErr()
	}
	if nw.parted.Load() {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.fail(fmt.Errorf("%w: %s written directly after Part", ErrOrder, nw.ns.name()))
	}
	if err := checkDoc(doc); err != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.fail(fmt.Errorf("archive: write to %s: document %d: %w", nw.ns.name(), nw.count, err))
	}
	if len(nw.buf)+len(doc) > w.chunkSize && len(nw.buf) > 0 {
		if err := nw.flush(nw.buf, false); err != nil {
			return err
		}
	}
	// The CRC is taken per document while it is in cache; hash/crc64 runs
	// within a few percent of its large-buffer speed on 500-byte inputs.
	nw.crc = crc64.Update(nw.crc, crcTable, doc)
	if len(doc) > w.chunkSize { // larger than a chunk: goes out on its own
		if err := nw.flush(doc, false); err != nil {
			return err
		}
		nw.count++
		return nil
	}
	if need := len(nw.buf) + len(doc); need > cap(nw.buf) {
		c := max(2*cap(nw.buf), need, 64*1024)
		nb := make([]byte, len(nw.buf), min(c, w.chunkSize))
		copy(nb, nw.buf)
		nw.buf = nb
	}
	nw.buf = append(nw.buf, doc...)
	nw.count++
	return nil
}

func (nw *NamespaceWriter) lateErr() error {
	if err := nw.w.stickyErr(); err != nil {
		return err
	}
	return fmt.Errorf("%w: namespace %s already closed", ErrClosed, nw.ns.name())
}

// flush hands chunk (nw.buf or one oversized document) to the multiplexer (emit).
// With final it then ends the namespace: TERM, EOF header with the CRC, TERM.
func (nw *NamespaceWriter) flush(chunk []byte, final bool) error {
	w := nw.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.emit(nw.ns, chunk); err != nil {
		return err
	}
	nw.buf = nw.buf[:0]
	if final {
		if nw.parts > 0 {
			return w.fail(fmt.Errorf("%w: %s closed while %d of its parts are open", ErrUnfinished, nw.ns.name(), nw.parts))
		}
		b := appendTerm(w.scratch[:0])
		b = appendNSHeader(b, nw.ns.db, nw.ns.coll, true, nw.crc)
		b = appendTerm(b)
		if err := w.write(b); err != nil {
			return err
		}
		w.scratch = b[:0]
		w.cur = nil
		nw.ns.state = nsClosed
		if nw.buf != nil {
			w.free = append(w.free, nw.buf)
			nw.buf = nil
		}
	}
	return nil
}

// emit writes chunk, whole documents of namespace ns, to the output: after a fresh block
// header only if the previous chunk was another namespace's. w.mu must be held.
func (w *Writer) emit(ns *writerNS, chunk []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return w.fail(fmt.Errorf("%w: write to %s after the writer was closed", ErrClosed, ns.name()))
	}
	b := w.scratch[:0]
	if w.cur != ns {
		if w.cur != nil {
			b = appendTerm(b)
		}
		b = appendNSHeader(b, ns.db, ns.coll, false, 0)
		w.cur = ns
	}
	if err := w.write(b); err != nil {
		return err
	}
	w.scratch = b[:0]
	return w.write(chunk)
}

// Close flushes the namespace's remaining documents and writes its EOF block
// carrying the CRC; an empty namespace still gets an (empty) block and its
// EOF. It then frees the namespace's slot for a waiting Open. Calling Close
// again returns the first result.
func (nw *NamespaceWriter) Close() error {
	if nw.closed {
		return nw.err
	}
	nw.closed = true
	nw.err = nw.flush(nw.buf, true)
	<-nw.w.sem
	return nw.err
}

// Count returns the number of documents written so far.
func (nw *NamespaceWriter) Count() int64 { return nw.count }

// CRC returns the CRC-64/ECMA of the documents written so far, as the EOF
// header records it at Close.
func (nw *NamespaceWriter) CRC() uint64 { return nw.crc }
