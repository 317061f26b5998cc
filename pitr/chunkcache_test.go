package pitr

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
)

// countingGets counts the Gets that reach the store.
type countingGets struct {
	*mem.Store
	n atomic.Int64
}

func (c *countingGets) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.n.Add(1)
	return c.Store.Get(ctx, key)
}

func readWhole(t *testing.T, s storage.Store, key string) string {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fullDisk fails every write after the disk's first room bytes with ENOSPC, as a full
// disk does.
type fullDisk struct {
	*os.File
	room *int
}

func (f *fullDisk) Write(b []byte) (int, error) {
	if len(b) > *f.room {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	*f.room -= len(b)
	return f.File.Write(b)
}

// TestChunkCache: what the check reads is kept on disk and the replay reads it from there
// (the store is asked once per chunk); a chunk not read to its end is not kept; past the
// limit, or once the disk is full, no more chunks are kept — those are read from the
// store again, the log says so once, and the reads themselves never fail for it; Close
// removes the files.
func TestChunkCache(t *testing.T) {
	store := &countingGets{Store: mem.New()}
	for _, k := range []string{"a", "b", "c", "d"} {
		store.SetBytes(k, []byte(strings.Repeat(k, 100)))
	}
	var log logBuffer
	dir := t.TempDir()
	c := NewChunkCache(dir, 250, log.logger())
	fill := c.Filling(store)
	for _, k := range []string{"a", "b", "c"} {
		if got := readWhole(t, fill, k); got != strings.Repeat(k, 100) {
			t.Fatalf("read %s through the cache: %q", k, got)
		}
	}
	r, _ := fill.Get(context.Background(), "d") // opened, not read to its end
	r.Close()
	if n, b := c.Kept(); n != 2 || b != 200 {
		t.Errorf("kept %d chunks of %d bytes, want 2 of 200 (c passes the limit of 250)", n, b)
	}
	if !strings.Contains(log.String(), "limit of 250 bytes") || strings.Count(log.String(), "no longer kept") != 1 {
		t.Errorf("the log does not say once why chunks stopped being kept:\n%s", log.String())
	}
	store.n.Store(0)
	serve := c.Serving(store)
	for _, k := range []string{"a", "b", "c"} {
		if got := readWhole(t, serve, k); got != strings.Repeat(k, 100) {
			t.Fatalf("read %s back: %q", k, got)
		}
	}
	if n := store.n.Load(); n != 1 {
		t.Errorf("the replay asked the store %d times, want once (for c, which was not kept)", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left after Close: %v", left)
	}

	// A full disk: the write fails, the chunk is read from the store all the same.
	var log2 logBuffer
	c = NewChunkCache(dir, 0, log2.logger())
	room := 150
	c.create = func(dir, pattern string) (cacheFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		return &fullDisk{File: f, room: &room}, err
	}
	fill = c.Filling(store)
	for _, k := range []string{"a", "b"} {
		if got := readWhole(t, fill, k); got != strings.Repeat(k, 100) {
			t.Fatalf("read %s with a full disk: %q", k, got)
		}
	}
	if n, _ := c.Kept(); n != 1 || !strings.Contains(log2.String(), "no space left on device") {
		t.Errorf("kept %d (want a only, b hit the full disk); log:\n%s", n, log2.String())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 {
		t.Errorf("files: %v, want only a's (b's partial file removed)", left)
	}
	_ = c.Close()
	if _, err := c.Serving(store).Get(context.Background(), "a"); err != nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close a is read from the store: %v", err)
	}
}
