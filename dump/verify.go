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
	for name, s := range ar.Stats() {
		vs.Namespaces = append(vs.Namespaces, NamespaceStats{Namespace: name, Documents: s.Docs, Bytes: s.Bytes, CRC: s.CRC})
		vs.Documents += s.Docs
		vs.Bytes += s.Bytes
	}
	sort.Slice(vs.Namespaces, func(i, j int) bool { return vs.Namespaces[i].Namespace < vs.Namespaces[j].Namespace })
	return vs, nil
}
