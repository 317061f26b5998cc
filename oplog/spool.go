package oplog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// defaultSpoolMemory is how many bytes a spool keeps in memory before it moves to a file.
const defaultSpoolMemory = 1 << 20

// spool holds a sequence of BSON documents (oplog entries) to be read back once, in
// order, later: in memory while small, in a temporary file beyond its memory limit, so
// that memory stays bounded whatever the size of what it holds. It is for one goroutine.
type spool struct {
	dir      string // where the temporary file goes ("" = the system's temporary directory)
	memLimit int
	mem      []byte
	f        *os.File
	w        *bufio.Writer
	count    int64
	bytes    int64
}

// newSpool returns an empty spool that keeps up to memLimit bytes in memory (0: the
// default) and puts the rest in a temporary file in dir ("" = os.TempDir()).
func newSpool(dir string, memLimit int) *spool {
	if memLimit <= 0 {
		memLimit = defaultSpoolMemory
	}
	return &spool{dir: dir, memLimit: memLimit}
}

// Add appends a copy of doc.
func (s *spool) Add(doc []byte) error {
	if len(doc) < 5 || int(binary.LittleEndian.Uint32(doc)) != len(doc) {
		return fmt.Errorf("%w: spool: document length prefix does not match its size", ErrBadEntry)
	}
	s.count++
	s.bytes += int64(len(doc))
	if s.f == nil && len(s.mem)+len(doc) <= s.memLimit {
		s.mem = append(s.mem, doc...)
		return nil
	}
	if s.f == nil {
		if err := s.spill(); err != nil {
			return err
		}
	}
	if _, err := s.w.Write(doc); err != nil {
		return fmt.Errorf("oplog: write the spool file %s: %w", s.f.Name(), err)
	}
	return nil
}

// spill moves what is in memory to a new temporary file.
func (s *spool) spill() error {
	f, err := os.CreateTemp(s.dir, "mongostash-oplog-*.bson")
	if err != nil {
		return fmt.Errorf("oplog: create a spool file (the oplog is larger than %d bytes and goes to disk): %w", s.memLimit, err)
	}
	s.f = f
	s.w = bufio.NewWriterSize(f, 256<<10)
	if _, err := s.w.Write(s.mem); err != nil {
		return fmt.Errorf("oplog: write the spool file %s: %w", f.Name(), err)
	}
	s.mem = nil
	return nil
}

// Len is how many documents the spool holds; Size their total bytes.
func (s *spool) Len() int64 { return s.count }

// Size is the total size of the documents the spool holds.
func (s *spool) Size() int64 { return s.bytes }

// Each calls fn with every document in order. The document is only valid during the
// call. Each may be called more than once; Add must not be called after it.
func (s *spool) Each(fn func(doc bson.Raw) error) error {
	if s.f == nil {
		for rest := s.mem; len(rest) > 0; {
			n := int(binary.LittleEndian.Uint32(rest))
			if err := fn(bson.Raw(rest[:n])); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("oplog: write the spool file %s: %w", s.f.Name(), err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("oplog: read the spool file %s: %w", s.f.Name(), err)
	}
	return eachDocument(bufio.NewReaderSize(s.f, 256<<10), s.f.Name(), fn)
}

func eachDocument(r io.Reader, name string, fn func(doc bson.Raw) error) error {
	var buf []byte
	var head [4]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("oplog: read the spool file %s: %w", name, err)
		}
		n := int(binary.LittleEndian.Uint32(head[:]))
		if n < 5 {
			return fmt.Errorf("oplog: spool file %s is corrupt", name)
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		copy(buf, head[:])
		if _, err := io.ReadFull(r, buf[4:]); err != nil {
			return fmt.Errorf("oplog: read the spool file %s: %w", name, err)
		}
		if err := fn(bson.Raw(buf)); err != nil {
			return err
		}
	}
}

// Close removes the spool's file, if it has one, and forgets its documents.
func (s *spool) Close() error {
	s.mem = nil
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := errors.Join(s.f.Close(), os.Remove(name))
	s.f, s.w = nil, nil
	if err != nil {
		return fmt.Errorf("oplog: remove the spool file %s: %w", name, err)
	}
	return nil
}
