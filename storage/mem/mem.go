// Package mem is an in-memory storage.Store for unit tests of the packages above storage
// (catalog, retention planning, the CLI's pure parts). It meets the same contract as the
// real backends (storagetest runs against it) but keeps everything in one process.
//
// It must never be used to hold real backups.
package mem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mongostash/mongostash/storage"
)

// Store holds objects in a map. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	objects map[string]object
	now     func() time.Time
}

type object struct {
	data     []byte
	modified time.Time
}

// New returns an empty store.
func New() *Store { return &Store{objects: map[string]object{}, now: time.Now} }

// Put implements storage.Store. The stream is read whole before anything is stored, so a
// failed or cancelled Put stores nothing.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.PutResult, error) {
	if err := checkKey(key); err != nil {
		return storage.PutResult{}, err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, ctxReader{ctx, r}); err != nil {
		return storage.PutResult{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return storage.PutResult{}, fmt.Errorf("put %s: %w", key, err)
	}
	s.mu.Lock()
	s.objects[key] = object{data: buf.Bytes(), modified: s.now()}
	s.mu.Unlock()
	sum := sha256.Sum256(buf.Bytes())
	return storage.PutResult{Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}, nil
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	o, ok := s.objects[key]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, storage.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := []storage.Object{}
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) {
			objs = append(objs, storage.Object{Key: k, Size: int64(len(o.data)), LastModified: o.modified})
		}
	}
	slices.SortFunc(objs, func(a, b storage.Object) int { return strings.Compare(a.Key, b.Key) })
	return objs, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.objects, k)
	}
	return nil
}

// String implements storage.Store.
func (s *Store) String() string { return "mem://" }

// SetClock makes the store stamp new objects with now() instead of the wall clock, for
// tests of age-based rules.
func (s *Store) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetBytes stores b under key as it is, for tests that need an object no writer of ours
// would produce (a corrupt manifest, a foreign file).
func (s *Store) SetBytes(key string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = object{data: slices.Clone(b), modified: s.now()}
}

// Bytes returns a copy of what is stored under key, and whether it exists.
func (s *Store) Bytes(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	return slices.Clone(o.data), ok
}

func checkKey(key string) error {
	if key == "" || strings.HasSuffix(key, "/") {
		return fmt.Errorf("put %q: not an object key", key)
	}
	return nil
}

// ctxReader stops a copy at the next read once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
