package archive

import (
	"fmt"
	"hash/crc64"
)

// Part writes a share of one namespace's documents, for a namespace that several
// goroutines fill at once (one collection read by several cursors). Each Part gathers its
// documents into chunks of its own and hands every full chunk to the namespace whole; the
// namespace's count and CRC cover the documents in the order their chunks reach the
// output, which is what a reader checks. A Part is used by one goroutine; the Parts of a
// namespace may be used concurrently.
type Part struct {
	nw      *NamespaceWriter
	buf     []byte // pending chunk
	pending int64  // documents in buf
	closed  bool
}

// Part starts a Part of the namespace. It is safe to call from several goroutines. Once a
// namespace has Parts its own Write is refused, and it must be closed after all of them.
func (nw *NamespaceWriter) Part() (*Part, error) {
	w := nw.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	if nw.closed || nw.count > 0 && !nw.parted.Load() || len(nw.buf) > 0 {
		return nil, w.fail(fmt.Errorf("%w: part of %s started after its own writes or close", ErrOrder, nw.ns.name()))
	}
	nw.parted.Store(true)
	nw.parts++
	p := &Part{nw: nw}
	if n := len(w.free); n > 0 {
		p.buf, w.free = w.free[n-1][:0], w.free[:n-1]
	}
	return p, nil
}

// Write appends one complete BSON document, as NamespaceWriter.Write does.
func (p *Part) Write(doc []byte) error {
	w := p.nw.w
	if p.closed || w.failedFlag.Load() {
		if err := w.stickyErr(); err != nil {
			return err
		}
		return fmt.Errorf("%w: part of %s already closed", ErrClosed, p.nw.ns.name())
	}
	if err := checkDoc(doc); err != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.fail(fmt.Errorf("archive: write to %s: %w", p.nw.ns.name(), err))
	}
	if len(p.buf)+len(doc) > w.chunkSize && len(p.buf) > 0 {
		if err := p.flush(); err != nil {
			return err
		}
	}
	if len(doc) > w.chunkSize { // larger than a chunk: goes out on its own
		return p.hand(doc, 1)
	}
	if need := len(p.buf) + len(doc); need > cap(p.buf) {
		nb := make([]byte, len(p.buf), min(max(2*cap(p.buf), need, 64*1024), w.chunkSize))
		copy(nb, p.buf)
		p.buf = nb
	}
	p.buf = append(p.buf, doc...)
	p.pending++
	return nil
}

// flush hands the pending chunk to the namespace.
func (p *Part) flush() error {
	if p.pending == 0 {
		return nil
	}
	err := p.hand(p.buf, p.pending)
	p.buf, p.pending = p.buf[:0], 0
	return err
}

// hand writes chunk, docs whole documents, to the output as the namespace's next ones,
// and adds them to its count and CRC there, in output order.
func (p *Part) hand(chunk []byte, docs int64) error {
	nw, w := p.nw, p.nw.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.emit(nw.ns, chunk); err != nil {
		return err
	}
	nw.crc = crc64.Update(nw.crc, crcTable, chunk)
	nw.count += docs
	return nil
}

// Close hands the Part's remaining documents to the namespace. It does not end the
// namespace: its own Close does, after every Part's. Calling Close again does nothing.
func (p *Part) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.flush()
	w := p.nw.w
	w.mu.Lock()
	defer w.mu.Unlock()
	p.nw.parts--
	if p.buf != nil {
		w.free = append(w.free, p.buf)
		p.buf = nil
	}
	return err
}
