package local

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "backups"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// leftovers lists every file below the store's directory that List does not report.
func leftovers(t *testing.T, st storage.Store) []string {
	s := st.(*Store)
	listed := map[string]bool{}
	for _, k := range storagetest.Keys(t, s, "") {
		listed[k] = true
	}
	var left []string
	err := filepath.WalkDir(s.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Dir(), p)
		if !d.IsDir() && !listed[filepath.ToSlash(rel)] {
			left = append(left, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return left
}

func TestContract(t *testing.T) {
	storagetest.Run(t, storagetest.Options{
		New:       func(t *testing.T) storage.Store { return newStore(t) },
		Leftovers: leftovers,
	})
}

func TestBadKeys(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, key := range []string{
		"", "/abs", "../escape", "a/../../escape", "a/..", "..", ".", "a/./b", "a//b", "dir/",
		"back\\slash", "nul\x00", "\xff", tempPrefix + "x", "dir/" + tempPrefix + "x",
	} {
		if _, err := s.Put(ctx, key, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q): no error", key)
		}
		if _, err := s.Get(ctx, key); err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want a key error", key, err)
		}
		if err := s.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q): no error", key)
		}
	}
	if left := leftovers(t, s); len(left) != 0 {
		t.Errorf("files created: %q", left)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Dir()), "escape")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file escaped the store's directory: %v", err)
	}
}

// TestSymlinkOutside checks that a symbolic link pointing out of the directory is neither
// listed, nor read, nor written through.
func TestSymlinkOutside(t *testing.T) {
	s := newStore(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.Dir(), "filelink")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got := storagetest.Keys(t, s, ""); len(got) != 0 {
		t.Errorf("List = %q, want nothing", got)
	}
	for _, key := range []string{"link/secret", "filelink"} {
		if r, err := s.Get(ctx, key); err == nil {
			r.Close()
			t.Errorf("Get(%q) read outside the directory", key)
		}
	}
	if _, err := s.Put(ctx, "link/new", strings.NewReader("x")); err == nil {
		t.Errorf("Put through a link out of the directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Put wrote outside the directory")
	}
}

func TestPutIntoFile(t *testing.T) {
	s := newStore(t)
	storagetest.MustPut(t, s, "a", []byte("file"))
	if _, err := s.Put(context.Background(), "a/b", strings.NewReader("x")); err == nil {
		t.Fatal("Put below a file succeeded")
	}
	if got := storagetest.MustGet(t, s, "a"); string(got) != "file" {
		t.Fatalf("a = %q", got)
	}
}

func TestPermissionsAndEmptyDirs(t *testing.T) {
	s := newStore(t)
	storagetest.MustPut(t, s, "x/y/z", []byte("secret data"))
	fi, err := os.Stat(filepath.Join(s.Dir(), "x", "y", "z"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("file mode %v, want no access for group and others", perm)
	}
	if err := s.Delete(context.Background(), "x/y/z"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatalf("the store's own directory is gone: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("empty directories left after Delete: %v", entries)
	}
}

func TestAbortStaleUploads(t *testing.T) {
	s := newStore(t)
	storagetest.MustPut(t, s, "p/keep", []byte("object"))
	old := filepath.Join(s.Dir(), "p", tempPrefix+"old")
	fresh := filepath.Join(s.Dir(), "p", tempPrefix+"fresh")
	other := filepath.Join(s.Dir(), tempPrefix+"other-prefix")
	for _, f := range []string{old, fresh, other} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	for _, f := range []string{old, other} {
		if err := os.Chtimes(f, past, past); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.AbortStaleUploads(context.Background(), "p/", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("AbortStaleUploads = %d, want 1", n)
	}
	var got []string
	for _, f := range []string{old, fresh, other} {
		if _, err := os.Stat(f); err == nil {
			got = append(got, filepath.Base(f))
		}
	}
	if want := []string{tempPrefix + "fresh", tempPrefix + "other-prefix"}; !slices.Equal(got, want) {
		t.Errorf("temporary files left = %q, want %q", got, want)
	}
	if got := storagetest.Keys(t, s, ""); !slices.Equal(got, []string{"p/keep"}) {
		t.Errorf("List = %q", got)
	}
}

func TestNewCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != dir {
		t.Errorf("String() = %q, want %q", s.String(), dir)
	}
	storagetest.MustPut(t, s, "k", []byte("v"))
	if b, err := os.ReadFile(filepath.Join(dir, "k")); err != nil || !bytes.Equal(b, []byte("v")) {
		t.Errorf("file content %q, %v", b, err)
	}
}
