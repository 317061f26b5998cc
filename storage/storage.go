// Package storage is the contract of an object store: bytes under keys, which the S3,
// local-directory and in-memory backends implement. What only some stores can do is an
// optional interface beside Store: StaleUploadAborter, LockReader, Versioned,
// ConditionalWriter, RangeLister.
//
// It must never know what a backup is (names, manifests and the rules of a complete backup
// are package catalog's) and never import MongoDB or archive code: it moves opaque byte
// streams.
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

// Store is an object store. Implementations are safe for concurrent use.
type Store interface {
	// Put stores the stream r, of unknown size, under key. It either stores all of r or
	// nothing: a failed or cancelled Put leaves no object and no partial upload behind.
	Put(ctx context.Context, key string, r io.Reader) (PutResult, error)
	// Get opens key for reading. It returns an error wrapping ErrNotFound when key is absent.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes keys; deleting an absent key is not an error. When the store refuses
	// some keys it may still delete the others and return a *DeleteError naming those it
	// left (see ErrLocked).
	Delete(ctx context.Context, keys ...string) error
	// String names the store for messages (e.g. "s3://bucket/prefix"), never with secrets.
	String() string
}

// PutResult is what a successful Put stored.
type PutResult struct {
	Size   int64
	SHA256 string // lowercase hex of the stored bytes
}

// StaleUploadAborter is implemented by stores that can hold the debris of interrupted
// uploads (unfinished multipart uploads, temporary files of a killed process). Prune calls
// it to remove what is older than any upload still running could be.
type StaleUploadAborter interface {
	// AbortStaleUploads removes unfinished uploads under prefix started more than
	// olderThan ago and returns how many it removed.
	AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error)
}
