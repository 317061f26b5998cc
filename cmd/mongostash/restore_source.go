package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"

	"github.com/mongostash/mongostash/storage"
)

// source is a backup stream to read, with what is known about it beforehand.
type source struct {
	io.ReadCloser
	name     string            // key or file name, for messages
	size     int64             // stored size, 0 when unknown
	manifest *catalog.Manifest // nil for a legacy backup or a local file
}

// openSource opens --from FILE ('-' for stdin), else the named key, else the newest
// restorable backup under the prefix: complete ones and seed-era ones (which never had a
// manifest) count, by the time in their names.
func openSource(ctx context.Context, a *app, from, key string, sf *StoreFlags) (*source, error) {
	if from != "" {
		if from == "-" {
			return &source{ReadCloser: io.NopCloser(os.Stdin), name: "standard input"}, nil
		}
		f, err := os.Open(from)
		if err != nil {
			return nil, usagef("--from: %v", err)
		}
		st, _ := f.Stat()
		return &source{ReadCloser: f, name: from, size: st.Size()}, nil
	}
	store, err := sf.open(ctx, a)
	if err != nil {
		return nil, err
	}
	backups, _, err := catalog.ListBackups(ctx, store, sf.Prefix)
	if err != nil {
		return nil, err
	}
	var chosen *catalog.Backup
	if key == "" || key == "latest" {
		for i := range backups { // newest first
			if backups[i].Restorable() {
				chosen = &backups[i]
				break
			}
			a.log.Warn("skipping a newer backup that cannot be restored", "key", backups[i].Key, "reason", backups[i].Problem())
		}
		if chosen == nil {
			return nil, fmt.Errorf("no complete backup under %s (found %d backup objects)", describePrefix(store, sf.Prefix), len(backups))
		}
	} else {
		for i := range backups {
			if backups[i].Key == key || backups[i].Key == sf.Prefix+key {
				chosen = &backups[i]
				break
			}
		}
		if chosen == nil {
			// Any key may be restored, even one not named like a backup.
			r, err := store.Get(ctx, key)
			if err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return nil, fmt.Errorf("backup %s not found in %s (see 'mongostash list')", key, store)
				}
				return nil, fmt.Errorf("open %s: %w", key, err)
			}
			return &source{ReadCloser: r, name: key}, nil
		}
	}
	switch chosen.State() {
	case "size-mismatch", "invalid-manifest":
		return nil, fmt.Errorf("backup %s is not the backup its manifest describes: %s", chosen.Key, chosen.Problem())
	case "incomplete":
		a.log.Warn("this backup has no manifest: its run failed or has not finished; restoring it unverified (the archive's own checksums are still checked)", "key", chosen.Key)
	}
	r, err := store.Get(ctx, chosen.Key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", chosen.Key, err)
	}
	return &source{ReadCloser: r, name: chosen.Key, size: chosen.Size, manifest: chosen.Manifest}, nil
}

func describePrefix(store storage.Store, prefix string) string {
	if prefix == "" {
		return store.String()
	}
	return fmt.Sprintf("%s (prefix %q)", store, prefix)
}

// plannedDocuments is the document count the manifest promises, 0 without one: it sizes
// the progress bar of a restore or verify.
func (s *source) plannedDocuments() int64 {
	if s.manifest == nil {
		return 0
	}
	return s.manifest.Documents()
}

// planNamespaces gives p the per-namespace document counts of the manifest, if any, so that
// the progress of each collection can show a percentage.
func (s *source) planNamespaces(p *dump.Progress) {
	if s.manifest == nil {
		return
	}
	for _, ns := range s.manifest.Namespaces {
		p.PlanNamespace(ns.Namespace, ns.Documents)
	}
}

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

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
