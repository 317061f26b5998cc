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
	"strconv"
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
	writes  uint64 // every write's number, the tag of what it wrote
}

type object struct {
	data     []byte
	modified time.Time
	gen      uint64
}

// set stores o under key as a new write; s.mu is held.
func (s *Store) set(key string, o object) uint64 {
	s.writes++
	o.gen = s.writes
	s.objects[key] = o
	return o.gen
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
	s.set(key, object{data: buf.Bytes(), modified: s.now()})
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

var _ storage.ConditionalWriter = (*Store)(nil)

// ReadTagged implements storage.ConditionalWriter: the tag is the number of the write
// that stored the content, so it changes on every write.
func (s *Store) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	if err := ctx.Err(); err != nil {
		return storage.Tagged{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok {
		return storage.Tagged{}, fmt.Errorf("read %s: %w", key, storage.ErrNotFound)
	}
	return storage.Tagged{Data: slices.Clone(o.data), Tag: strconv.FormatUint(o.gen, 10)}, nil
}

// PutIf implements storage.ConditionalWriter under the store's lock.
func (s *Store) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	switch {
	case ifTag == "" && ok:
		return "", fmt.Errorf("write %s: %w (it exists)", key, storage.ErrPrecondition)
	case ifTag != "" && (!ok || strconv.FormatUint(o.gen, 10) != ifTag):
		return "", fmt.Errorf("write %s: %w", key, storage.ErrPrecondition)
	}
	return strconv.FormatUint(s.set(key, object{data: slices.Clone(data), modified: s.now()}), 10), nil
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
	s.set(key, object{data: slices.Clone(b), modified: s.now()})
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
