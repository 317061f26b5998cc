// Package local implements storage.Store on a local directory: the embedded default when no
// bucket is configured, and the target for tests and air-gapped hosts.
//
// Keys map to files below the directory, "/" to subdirectories. A Put writes a temporary
// file in the target's directory, fsyncs it, renames it into place and fsyncs the directory,
// so a key holds either its old content or the whole new stream, never a torn file. The
// package must never touch anything outside the directory: keys with "..", empty or "."
// segments or a leading "/" are rejected, and every file operation goes through an os.Root,
// which refuses to leave the directory even through symbolic links.
package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mongostash/mongostash/storage"
)

// tempPrefix starts the name of every temporary file; List hides such files and keys whose
// last segment starts with it are rejected, so they can never be mistaken for objects.
const tempPrefix = ".mongostash-tmp-"

// Permissions of what the store creates: backups hold database contents, so only the owner
// may read them (the umask can only narrow this further).
const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// copyBufSize is the size of the buffer a Put copies through; larger than io.Copy's default
// to make fewer write calls for multi-gigabyte streams.
const copyBufSize = 1 << 20

// Store is a storage.Store on a directory. It is safe for concurrent use.
type Store struct {
	dir  string // absolute, for messages
	root *os.Root
}

var (
	_ storage.Store              = (*Store)(nil)
	_ storage.StaleUploadAborter = (*Store)(nil)
)

// New opens the directory dir as a store, creating it (and its parents) when missing.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open backup directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("create backup directory %s: %w", abs, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open backup directory %s: %w", abs, err)
	}
	return &Store{dir: abs, root: root}, nil
}

// Dir returns the store's directory as an absolute path.
func (s *Store) Dir() string { return s.dir }

// String names the store by its directory.
func (s *Store) String() string { return s.dir }

// Put stores r under key: it writes a temporary file beside the target, fsyncs it, renames
// it over key and fsyncs the directory. A failed or cancelled Put removes the temporary file
// and leaves key as it was.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.PutResult, error) {
	res, err := s.put(ctx, key, r)
	if err != nil {
		return storage.PutResult{}, fmt.Errorf("store %s in %s: %w", key, s, err)
	}
	return res, nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader) (res storage.PutResult, err error) {
	if err := checkKey(key); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	dir := path.Dir(key)
	if dir != "." {
		if err := s.root.MkdirAll(dir, dirPerm); err != nil {
			return res, fmt.Errorf("create directory: %w", err)
		}
	}
	tmp := path.Join(dir, tempPrefix+randomHex())
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return res, fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = s.root.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(fileWriter{f}, h), &ctxReader{ctx: ctx, r: r}, make([]byte, copyBufSize))
	if err != nil {
		var we *writeError
		switch {
		case errors.As(err, &we):
			return res, fmt.Errorf("write at byte %d: %w", n, we.err)
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return res, fmt.Errorf("cancelled after %d bytes: %w", n, err)
		}
		return res, fmt.Errorf("read the stream at byte %d: %w", n, err)
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("flush to disk: %w", err)
	}
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("close: %w", err)
	}
	// A cancellation that arrived while the last bytes were written still wins: the
	// caller was told nothing was stored.
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return res, fmt.Errorf("move into place: %w", err)
	}
	if err := s.syncDir(dir); err != nil {
		return res, fmt.Errorf("flush directory to disk: %w", err)
	}
	return storage.PutResult{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get opens key for reading; an absent key (or a directory) is storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", key, s, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", key, s, err)
	}
	f, err := s.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, notDirErr) {
		return nil, fmt.Errorf("open %s in %s: %w", key, s, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", key, s, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s in %s: %w", key, s, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s in %s: %w", key, s, storage.ErrNotFound)
	}
	return f, nil
}

// List returns every file whose key starts with prefix, sorted by key. Temporary files of
// Puts in progress and anything that is not a regular file (symbolic links included) are
// left out.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	objs, err := s.list(ctx, prefix, false)
	if err != nil {
		return nil, fmt.Errorf("list %q in %s: %w", prefix, s, err)
	}
	return objs, nil
}

// list walks the directories that can hold keys starting with prefix; temps selects
// temporary files instead of objects.
func (s *Store) list(ctx context.Context, prefix string, temps bool) ([]storage.Object, error) {
	start := "."
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		start = prefix[:i]
		if !fs.ValidPath(start) {
			return nil, nil // no key can live there
		}
	}
	var objs []storage.Object
	err := fs.WalkDir(s.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, notDirErr) {
				return nil // the start does not exist, or something vanished while we walked
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if d.IsDir() {
			if p != "." && p != start && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		if strings.HasPrefix(path.Base(p), tempPrefix) != temps {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		objs = append(objs, storage.Object{Key: p, Size: fi.Size(), LastModified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(objs, func(a, b storage.Object) int { return strings.Compare(a.Key, b.Key) })
	return objs, nil
}

// Delete removes keys, and the directories that their removal leaves empty (never the
// store's own directory). Absent keys are not an error.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	var errs []error
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("delete from %s: %w", s, err)
		}
		if err := s.remove(key); err != nil {
			errs = append(errs, fmt.Errorf("delete %s from %s: %w", key, s, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) remove(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	fi, err := s.root.Lstat(key)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, notDirErr) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return nil // a "folder", not an object: nothing stored under this key
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.pruneDirs(path.Dir(key))
	return nil
}

// pruneDirs removes dir and its parents while they are empty, as "folders" in an object
// store vanish with their last object. Failures (a directory not empty, a concurrent Put)
// are expected and ignored.
func (s *Store) pruneDirs(dir string) {
	for dir != "." && dir != "/" {
		if err := s.root.Remove(dir); err != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

// AbortStaleUploads removes temporary files under prefix last written more than olderThan
// ago: the debris of Puts whose process was killed. A Put in progress keeps writing its file,
// so it is not stale unless it stalled for longer than olderThan.
func (s *Store) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	temps, err := s.list(ctx, prefix, true)
	if err != nil {
		return 0, fmt.Errorf("list unfinished uploads under %q in %s: %w", prefix, s, err)
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	for _, t := range temps {
		if !t.LastModified.Before(cutoff) {
			continue
		}
		if err := s.root.Remove(t.Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("remove unfinished upload %s from %s: %w", t.Key, s, err)
		}
		n++
		s.pruneDirs(path.Dir(t.Key))
	}
	return n, nil
}

// checkKey rejects keys that cannot name a file below the root.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case !utf8.ValidString(key):
		return errors.New("key is not valid UTF-8")
	case strings.ContainsAny(key, "\x00\\"):
		return errors.New(`key contains a NUL byte or "\"`)
	case strings.HasPrefix(key, "/"):
		return errors.New(`key starts with "/"`)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return errors.New(`key has an empty path segment ("//" or a trailing "/")`)
		case ".", "..":
			return fmt.Errorf("key has a %q path segment", seg)
		}
	}
	if strings.HasPrefix(path.Base(key), tempPrefix) {
		return fmt.Errorf("key names a temporary file (%s…)", tempPrefix)
	}
	return nil
}

// notDirErr is what opening "a/b" returns when "a" is a file: for a store, "a/b" is then
// simply absent.
const notDirErr = syscall.ENOTDIR

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ctxReader stops a copy at the next read once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fileWriter marks the errors of the temporary file as writeErrors.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// writeError marks an error of the destination file so that Put can tell it from an error
// of the caller's stream.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
