package storage

import (
	"context"
	"errors"
)

// ErrPrecondition is returned (wrapped) by a conditional write whose condition did not
// hold: the key existed when it had to be absent, or its tag changed since it was read.
var ErrPrecondition = errors.New("storage: the object changed (precondition failed)")

// Tagged is a small object read with the tag that names its current content: an S3 ETag, a
// GCS generation, an Azure ETag, a local file's content hash. A tag changes whenever the
// content is written, even with the same bytes, on every store that can; where a store can
// only hash the content, equal bytes give equal tags (see each backend).
type Tagged struct {
	Data []byte
	Tag  string
}

// ConditionalWriter is implemented by stores that can write a small object only if it is
// absent, or only if it has not changed since it was read — what one archiver per prefix
// (pitr's lease) is built on. A store without it gives a best effort only (docs/pitr.md).
type ConditionalWriter interface {
	// ReadTagged reads key whole (it is small: at most 1 MiB is read) with its tag. It
	// returns an error wrapping ErrNotFound when key is absent.
	ReadTagged(ctx context.Context, key string) (Tagged, error)
	// PutIf writes data under key if its tag is still ifTag, or, with ifTag "", if key is
	// absent. It returns the new tag. When the condition does not hold it writes nothing
	// and returns an error wrapping ErrPrecondition. Two PutIf calls with the same
	// condition never both succeed.
	PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error)
}
