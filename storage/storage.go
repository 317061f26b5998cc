// Package storage defines where backups live: the Store interface that the S3 and
// local-directory backends implement, the backup key naming scheme (ours and the seed's),
// and the manifest written next to each complete backup.
//
// It must never import MongoDB or archive code: it moves opaque byte streams.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned by Get (and wrapped by callers) when a key does not exist.
var ErrNotFound = errors.New("storage: object not found")

// Object is one stored object as a listing reports it.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Store is an object store holding backups. Implementations are safe for concurrent use.
type Store interface {
	// Put stores the stream r, of unknown size, under key. It either stores all of r or
	// nothing: a failed or cancelled Put leaves no object and no partial upload behind.
	Put(ctx context.Context, key string, r io.Reader) (PutResult, error)
	// Get opens key for reading. It returns an error wrapping ErrNotFound when key is absent.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes keys; deleting an absent key is not an error.
	Delete(ctx context.Context, keys ...string) error
	// String names the store for messages (e.g. "s3://bucket/prefix"), never with secrets.
	String() string
}

// PutResult is what a successful Put stored.
type PutResult struct {
	Size   int64
	SHA256 string // lowercase hex of the stored bytes
}
