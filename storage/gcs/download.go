package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/storage"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Get opens key for reading. The library resumes a dropped transfer with a ranged read of
// the same generation; a stall three times in a row without a byte in between ends it.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("download %s from %s: %w", key, s, err)
	}
	r, err := s.bucket.Object(key).NewReader(stall.WithAttempts(ctx))
	if err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return nil, fmt.Errorf("download %s from %s: %w", key, s, ourstorage.ErrNotFound)
		}
		return nil, fmt.Errorf("download %s from %s: %w", key, s, explain(err))
	}
	return &reader{s: s, key: key, r: r}, nil
}

// reader names the key and the store in the errors of a download.
type reader struct {
	s   *Store
	key string
	r   *storage.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("download %s from %s: %w", r.key, r.s, explain(err))
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }
