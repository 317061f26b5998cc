package dump

import (
	"context"
	"errors"
	"io"
	"sort"

	"github.com/mongostash/mongostash/dump/archive"
)

// VerifyStats is what a full read of an archive found.
type VerifyStats struct {
	Prelude    *archive.Prelude
	Namespaces []NamespaceStats // every data namespace, sorted
	Documents  int64
	Bytes      int64
}

// Verify reads a whole plain archive from r: the prelude, every block, every namespace's
// CRC. It needs no server. An error means the archive would not restore completely.
func Verify(ctx context.Context, r io.Reader, progress *Progress) (VerifyStats, error) {
	var vs VerifyStats
	ar := archive.NewReader(r)
	p, err := ar.Prelude()
	if err != nil {
		return vs, err
	}
	vs.Prelude = p
	for {
		if err := ctx.Err(); err != nil {
			return vs, err
		}
		rec, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return vs, err
		}
		if rec.Doc != nil {
			progress.add(1, int64(len(rec.Doc)))
		}
	}
	vs.Namespaces = archiveNamespaces(ar)
	for _, n := range vs.Namespaces {
		vs.Documents += n.Documents
		vs.Bytes += n.Bytes
	}
	return vs, nil
}

// archiveNamespaces is every data namespace the reader has seen, with its document count,
// bytes and CRC, sorted by name.
func archiveNamespaces(ar *archive.Reader) []NamespaceStats {
	var out []NamespaceStats
	for name, s := range ar.Stats() {
		out = append(out, NamespaceStats{Namespace: name, Documents: s.Docs, Bytes: s.Bytes, CRC: s.CRC})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out
}
