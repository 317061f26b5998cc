package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mongostash/mongostash/storage"
)

// The small JSON objects of the catalog — backup manifests, chunk manifests, gap markers —
// are written, read and decoded the same way; what names the kind in errors ("manifest",
// "chunk manifest", "gap marker").

// writeManifest stores a copy of m under key once prepare (which sets its defaults and
// checks it) accepts it: what marks an object complete, so written after it.
func writeManifest[M any](ctx context.Context, s storage.Store, what, key string, m *M, prepare func(*M) error) error {
	if m == nil {
		return fmt.Errorf("write %s %s: no manifest given", what, key)
	}
	c := *m
	if err := prepare(&c); err != nil {
		return fmt.Errorf("write %s %s: %w", what, key, err)
	}
	return writeJSON(ctx, s, what, key, &c)
}

// readManifest reads the manifest under key and decodes it. Its errors wrap
// storage.ErrNotFound when there is none and ErrInvalidManifest when decode refuses it.
func readManifest[M any](ctx context.Context, s storage.Store, what, key string, limit int, decode func([]byte) (*M, error)) (*M, error) {
	b, err := readSmall(ctx, s, what, key, limit)
	if err != nil {
		return nil, err
	}
	m, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, key, err)
	}
	return m, nil
}

// writeJSON stores v, indented and newline-terminated, under key.
func writeJSON(ctx context.Context, s storage.Store, what, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s %s: encode: %w", what, key, err)
	}
	if _, err := s.Put(ctx, key, bytes.NewReader(append(b, '\n'))); err != nil {
		return fmt.Errorf("write %s %s: %w", what, key, err)
	}
	return nil
}

// readSmall reads the object under key, at most limit+1 bytes: a decoder refuses more,
// and a huge object under a manifest's name is not ours. Its errors wrap the store's
// (storage.ErrNotFound when there is none).
func readSmall(ctx context.Context, s storage.Store, what, key string, limit int) ([]byte, error) {
	r, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err) // the store's error names the key
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, key, err)
	}
	return b, nil
}

// ErrInvalidManifest is wrapped by the readers of manifests when the manifest object exists
// but is not a manifest this version understands.
var ErrInvalidManifest = errors.New("catalog: invalid manifest")

// decodeManifest parses a manifest's JSON and checks it. Its errors wrap
// ErrInvalidManifest. Unknown fields are ignored, so that an older mongostash can read a
// newer manifest of the same format version.
func decodeManifest[M any, P interface {
	*M
	validate() error
}](b []byte, limit int) (*M, error) {
	if len(b) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidManifest, limit)
	}
	m := P(new(M))
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	return (*M)(m), nil
}

// checkFormatVersion refuses a manifest's format version that is not one this version
// reads: from 1 to newest.
func checkFormatVersion(v, newest int) error {
	switch {
	case v < 1:
		return fmt.Errorf("format version %d is not valid", v)
	case v > newest:
		return fmt.Errorf("format version %d is newer than this mongostash understands (%d)", v, newest)
	}
	return nil
}
