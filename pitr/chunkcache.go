package pitr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/mongostash/mongostash/storage"
)

// DefaultChunkCacheLimit bounds the chunks a ChunkCache keeps on disk: half the 1 GiB
// temporary directory the restore Job of deploy/kubernetes mounts (a restore's oplog replay
// may spill a large transaction there too).
const DefaultChunkCacheLimit = 512 << 20

// ChunkCache keeps, in a temporary directory, the stored bytes of the chunks a restore to a
// time checks before it writes anything (restore --to-time without --drop), so that the
// replay reads them from the disk rather than downloading every chunk twice. It keeps at
// most limit bytes; a chunk that would pass the limit, or whose file cannot be written
// (the directory full), is not kept, nor is any after it: those are downloaded again for
// the replay, as without a cache, which the log says once. The files are the stored form
// (compressed, encrypted as stored) and are checked again, in full, when read back.
type ChunkCache struct {
	dir   string
	limit int64
	log   *slog.Logger

	mu      sync.Mutex
	files   map[string]string // key → file, complete
	used    int64
	stopped bool // no more chunks are kept
	// create makes a file for one chunk (os.CreateTemp; a test's writes fail as a full
	// disk's do).
	create func(dir, pattern string) (cacheFile, error)
}

// cacheFile is the file a chunk is kept in.
type cacheFile interface {
	io.Writer
	Close() error
	Name() string
}

func createTemp(dir, pattern string) (cacheFile, error) { return os.CreateTemp(dir, pattern) }

// NewChunkCache returns a cache in dir ("" = the system's temporary directory) of at most
// limit bytes (DefaultChunkCacheLimit when 0; negative: none is kept).
func NewChunkCache(dir string, limit int64, log *slog.Logger) *ChunkCache {
	if limit == 0 {
		limit = DefaultChunkCacheLimit
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ChunkCache{dir: dir, limit: limit, log: log, files: map[string]string{}, stopped: limit < 0, create: createTemp}
}

// Filling is s with every object read through it kept in the cache, while room lasts.
func (c *ChunkCache) Filling(s storage.Store) storage.Store { return fillingStore{Store: s, c: c} }

// Serving is s with the kept objects read from the cache.
func (c *ChunkCache) Serving(s storage.Store) storage.Store { return servingStore{Store: s, c: c} }

// Kept returns how many chunks the cache holds, and their bytes.
func (c *ChunkCache) Kept() (chunks int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files), c.used
}

// Close removes the cache's files.
func (c *ChunkCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for k, path := range c.files {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		delete(c.files, k)
	}
	c.used = 0
	return errors.Join(errs...)
}

// stop ends the keeping of chunks, saying why once.
func (c *ChunkCache) stop(why string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.stopped = true
		c.log.Warn("oplog chunks are no longer kept on disk between their check and the replay: the rest are downloaded again", "why", why, "dir", c.where(), "error", errString(err))
	}
}

func (c *ChunkCache) where() string {
	if c.dir == "" {
		return os.TempDir()
	}
	return c.dir
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fillingStore tees what it reads into the cache.
type fillingStore struct {
	storage.Store
	c *ChunkCache
}

func (f fillingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := f.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	f.c.mu.Lock()
	stopped := f.c.stopped
	f.c.mu.Unlock()
	if stopped {
		return r, nil
	}
	file, err := f.c.create(f.c.dir, "mongostash-chunk-*")
	if err != nil {
		f.c.stop("cannot create a file in the temporary directory", err)
		return r, nil
	}
	return &teeReader{ReadCloser: r, c: f.c, key: key, f: file}, nil
}

// teeReader keeps what it reads in a file; the file is the cache's once the object was read
// to its end.
type teeReader struct {
	io.ReadCloser
	c    *ChunkCache
	key  string
	f    cacheFile // nil once given up or kept
	n    int64
	done bool
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if t.f != nil && n > 0 {
		t.keep(p[:n])
	}
	if errors.Is(err, io.EOF) && t.f != nil {
		t.done = true
	}
	return n, err
}

// keep writes b to the file, or gives the file up when the limit or the disk is reached.
func (t *teeReader) keep(b []byte) {
	t.c.mu.Lock()
	over := t.c.used+t.n+int64(len(b)) > t.c.limit
	t.c.mu.Unlock()
	if over {
		t.c.stop(fmt.Sprintf("the chunks kept reached the limit of %d bytes", t.c.limit), nil)
		t.drop()
		return
	}
	if _, err := t.f.Write(b); err != nil {
		t.c.stop("a write to the temporary directory failed (full?)", err)
		t.drop()
		return
	}
	t.n += int64(len(b))
}

func (t *teeReader) drop() {
	name := t.f.Name()
	t.f.Close()
	os.Remove(name)
	t.f = nil
}

func (t *teeReader) Close() error {
	err := t.ReadCloser.Close()
	if t.f == nil {
		return err
	}
	if !t.done {
		t.drop() // not read to its end: not the whole object
		return err
	}
	name := t.f.Name()
	if cerr := t.f.Close(); cerr != nil {
		os.Remove(name)
		t.c.stop("a write to the temporary directory failed (full?)", cerr)
		return err
	}
	t.c.mu.Lock()
	if old, ok := t.c.files[t.key]; ok {
		os.Remove(old)
	}
	t.c.files[t.key], t.c.used = name, t.c.used+t.n
	t.c.mu.Unlock()
	return err
}

// servingStore reads the kept objects from the cache.
type servingStore struct {
	storage.Store
	c *ChunkCache
}

func (s servingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	s.c.mu.Lock()
	path, ok := s.c.files[key]
	s.c.mu.Unlock()
	if ok {
		if f, err := os.Open(path); err == nil {
			return f, nil
		}
	}
	return s.Store.Get(ctx, key)
}
