package storage

import (
	"context"
	"time"
)

// Version is one version of a key in a store that keeps versions (an S3 bucket with
// versioning, which Object Lock requires): deleting a key there only hides it behind a
// delete marker, and its data stays as a noncurrent version.
type Version struct {
	Key          string
	VersionID    string
	Size         int64
	LastModified time.Time
	Latest       bool // the current version (or delete marker) of the key
	DeleteMarker bool
}

// Versioned is implemented by stores that may keep noncurrent versions.
type Versioned interface {
	// ListVersions returns every version and delete marker of the keys under prefix,
	// sorted by key, newest version first.
	ListVersions(ctx context.Context, prefix string) ([]Version, error)
	// DeleteVersions removes those versions for good. Versions it could not remove are
	// named in a *DeleteError (a locked one wraps ErrLocked); the others are gone.
	DeleteVersions(ctx context.Context, versions []Version) error
}
