package storage

import (
	"context"
	"strings"
)

// RangeLister is implemented by stores that can start a listing after a given key (S3's
// StartAfter) and stop it at another, so that a reader of a long folder lists only the part
// it needs: the catalog lists the oplog chunks written since its index, and the backups
// without the oplog folder.
type RangeLister interface {
	// ListRange returns, sorted by key, the objects whose key starts with prefix and sorts
	// after `after` (from the first when "") and before `before` (to the last when "").
	ListRange(ctx context.Context, prefix, after, before string) ([]Object, error)
}

// ListRange lists with s's ListRange where it has one, else lists prefix whole and keeps
// the range.
func ListRange(ctx context.Context, s Store, prefix, after, before string) ([]Object, error) {
	if rl, ok := s.(RangeLister); ok {
		return rl.ListRange(ctx, prefix, after, before)
	}
	all, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return KeepRange(all, after, before), nil
}

// KeepRange returns the objects of a sorted listing whose key sorts after `after` and
// before `before` (either "" for no bound).
func KeepRange(objs []Object, after, before string) []Object {
	out := objs[:0:0]
	for _, o := range objs {
		if (after == "" || strings.Compare(o.Key, after) > 0) && (before == "" || strings.Compare(o.Key, before) < 0) {
			out = append(out, o)
		}
	}
	return out
}
