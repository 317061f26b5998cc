package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
)

// storedReader reads a stored backup, counting and hashing its bytes on the way, so that
// what was read can be held against the backup's manifest.
type storedReader struct {
	countingReader
	src *source
	h   hash.Hash
}

func newStoredReader(src *source) *storedReader {
	h := sha256.New()
	return &storedReader{countingReader: countingReader{r: io.TeeReader(src, h)}, src: src, h: h}
}

func (r *storedReader) sha256() string { return hex.EncodeToString(r.h.Sum(nil)) }

// check reads the stored object to its end — bytes after the archive's end count for the
// size and SHA-256 too — and compares it, and the archive's namespaces as read, with the
// manifest. Without a manifest (a legacy backup, a local file) only the archive's own CRCs
// were checked, and check has nothing to add.
func (r *storedReader) check(namespaces []dump.NamespaceStats) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("read %s to its end: %w", r.src.name, err)
	}
	if r.src.manifest == nil {
		return nil
	}
	o := catalog.Observed{Size: r.n, SHA256: r.sha256()}
	for _, n := range namespaces {
		o.Namespaces = append(o.Namespaces, catalog.ObservedNamespace{Namespace: n.Namespace, Documents: n.Documents, CRC: n.CRC})
	}
	if problems := r.src.manifest.Check(o); len(problems) > 0 {
		return fmt.Errorf("the backup does not match its manifest %s, so it is not the backup that was made (%d problem(s)): %s",
			catalog.ManifestKey(r.src.name), len(problems), strings.Join(problems, "; "))
	}
	return nil
}
