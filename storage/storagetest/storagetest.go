// Package storagetest is the contract every storage.Store must meet, as a test suite that
// each backend's tests run against a real instance (a directory, the test bed's S3 server).
//
// It must never be imported by non-test code.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
)

// Options configure Run for one backend.
type Options struct {
	// New returns a new, empty store for one test.
	New func(t *testing.T) storage.Store
	// Leftovers returns what a failed Put may have left behind that List does not show
	// (temporary files, multipart uploads), as descriptions; nil skips that check.
	Leftovers func(t *testing.T, s storage.Store) []string
	// Big is the size of the largest stream the tests put; for S3 make it span several
	// parts. Default 3 MiB.
	Big int
}

// Run runs the contract tests as subtests of t.
func Run(t *testing.T, o Options) {
	if o.Big == 0 {
		o.Big = 3 << 20
	}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, o) })
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, o) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, o) })
	t.Run("List", func(t *testing.T) { testList(t, o) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, o) })
	t.Run("ReaderErrorLeavesNothing", func(t *testing.T) { testReaderError(t, o) })
	t.Run("CancelLeavesNothing", func(t *testing.T) { testCancel(t, o) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, o) })
	if _, ok := o.New(t).(storage.ConditionalWriter); ok {
		t.Run("Conditional", func(t *testing.T) { testConditional(t, o) })
	}
}

// Data returns n deterministic pseudo-random bytes for seed.
func Data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, _ = r.Read(b)
	return b
}

// SHA256 returns the lowercase hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// MustPut stores data under key and checks the PutResult.
func MustPut(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	got, err := s.Put(ctxFor(t), key, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if want := (storage.PutResult{Size: int64(len(data)), SHA256: SHA256(data)}); got != want {
		t.Fatalf("Put(%q) = %+v, want %+v", key, got, want)
	}
}

// MustGet reads key whole.
func MustGet(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	r, err := s.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

// Keys lists the keys under prefix.
func Keys(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(ctxFor(t), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	keys := []string{}
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// CheckNothingLeft fails t when the store lists any object or has any leftovers.
func CheckNothingLeft(t *testing.T, o Options, s storage.Store) {
	t.Helper()
	if keys := Keys(t, s, ""); len(keys) != 0 {
		t.Errorf("objects left: %q", keys)
	}
	if o.Leftovers != nil {
		if left := o.Leftovers(t, s); len(left) != 0 {
			t.Errorf("debris left: %q", left)
		}
	}
}

func testRoundTrip(t *testing.T, o Options) {
	s := o.New(t)
	for i, tc := range []struct {
		key  string
		size int
	}{
		{"empty", 0},
		{"one-byte", 1},
		{"small.dump", 1000},
		{"dir/sub/nested.dump.zst", 64 << 10},
		{"odd key with spaces+plus%percent&é.dump", 10},
		{"big.dump.gz", o.Big},
		{"big-plus-one", o.Big + 1},
	} {
		t.Run(tc.key, func(t *testing.T) {
			data := Data(uint64(i), tc.size)
			MustPut(t, s, tc.key, data)
			if got := MustGet(t, s, tc.key); !bytes.Equal(got, data) {
				t.Fatalf("Get(%q) returned %d bytes (sha256 %s), want %d bytes (sha256 %s)",
					tc.key, len(got), SHA256(got), len(data), SHA256(data))
			}
		})
	}
}

func testGetMissing(t *testing.T, o Options) {
	s := o.New(t)
	MustPut(t, s, "dir/present", []byte("x"))
	for _, key := range []string{"absent", "dir/absent", "dir", "dir/present/below"} {
		r, err := s.Get(ctxFor(t), key)
		if err == nil {
			r.Close()
			t.Errorf("Get(%q): no error, want ErrNotFound", key)
			continue
		}
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want an error wrapping ErrNotFound", key, err)
		}
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Get(%q) error %q does not name the key", key, err)
		}
	}
}

func testOverwrite(t *testing.T, o Options) {
	s := o.New(t)
	MustPut(t, s, "k", []byte("first version"))
	MustPut(t, s, "k", []byte("second"))
	if got, want := string(MustGet(t, s, "k")), "second"; got != want {
		t.Fatalf("after overwrite got %q, want %q", got, want)
	}
	big := Data(3, o.Big)
	MustPut(t, s, "k", big)
	if got := MustGet(t, s, "k"); !bytes.Equal(got, big) {
		t.Fatalf("after overwrite with %d bytes got %d bytes", len(big), len(got))
	}
	MustPut(t, s, "k", []byte("small again"))
	if got, want := string(MustGet(t, s, "k")), "small again"; got != want {
		t.Fatalf("after overwrite got %q, want %q", got, want)
	}
	if got, want := Keys(t, s, ""), []string{"k"}; !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
}

func testList(t *testing.T, o Options) {
	s := o.New(t)
	before := time.Now().Add(-time.Hour)
	keys := []string{"a/1", "a/2", "a-b", "ab", "b/c/d", "a/deeper/x", "z"}
	for i, k := range keys {
		MustPut(t, s, k, Data(uint64(i), i*10))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-b", "a/1", "a/2", "a/deeper/x", "ab", "b/c/d", "z"}},
		{"a/", []string{"a/1", "a/2", "a/deeper/x"}},
		{"a", []string{"a-b", "a/1", "a/2", "a/deeper/x", "ab"}},
		{"a/d", []string{"a/deeper/x"}},
		{"b/c/", []string{"b/c/d"}},
		{"b/c/d", []string{"b/c/d"}},
		{"nothing", []string{}},
		{"nothing/", []string{}},
		{"z/", []string{}},
	} {
		if got := Keys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	objs, err := s.List(ctxFor(t), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		i := slices.Index(keys, obj.Key)
		if obj.Size != int64(i*10) {
			t.Errorf("List: %s has size %d, want %d", obj.Key, obj.Size, i*10)
		}
		if obj.LastModified.Before(before) || obj.LastModified.After(time.Now().Add(time.Hour)) {
			t.Errorf("List: %s last modified %v, want about now", obj.Key, obj.LastModified)
		}
	}
}

func testDelete(t *testing.T, o Options) {
	s := o.New(t)
	for _, k := range []string{"keep", "x/1", "x/2", "x/y/3", "gone"} {
		MustPut(t, s, k, []byte(k))
	}
	ctx := ctxFor(t)
	if err := s.Delete(ctx); err != nil {
		t.Fatalf("Delete() with no keys: %v", err)
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatalf("Delete(gone): %v", err)
	}
	if err := s.Delete(ctx, "x/1", "x/2", "x/y/3", "never-existed", "x/1", "gone"); err != nil {
		t.Fatalf("Delete(several, with absent and repeated keys): %v", err)
	}
	if got, want := Keys(t, s, ""), []string{"keep"}; !slices.Equal(got, want) {
		t.Fatalf("after Delete List = %q, want %q", got, want)
	}
	if _, err := s.Get(ctx, "x/1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(x/1) after Delete = %v, want ErrNotFound", err)
	}
	// A "folder" emptied by Delete can be used as a key prefix again.
	MustPut(t, s, "x/again", []byte("1"))
}

// failingReader returns data, then fails with err after n bytes.
type failingReader struct {
	data []byte
	n    int
	err  error
	// onFail runs once, when the reader reaches n (e.g. to cancel a context).
	onFail func()
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		if r.onFail != nil {
			r.onFail()
			r.onFail = nil
		}
		if r.err != nil {
			return 0, r.err
		}
		// Without an error of its own, block like a producer that stalls: the context's
		// cancellation is what ends the Put. Keep producing slowly so that stores that
		// only check the context between reads notice it.
		time.Sleep(10 * time.Millisecond)
		r.data = r.data[:0]
		return copy(p, []byte{0}), nil
	}
	p = p[:min(len(p), r.n, len(r.data))]
	n := copy(p, r.data)
	r.data, r.n = r.data[n:], r.n-n
	return n, nil
}

var errBoom = errors.New("storagetest: the producer failed")

func testReaderError(t *testing.T, o Options) {
	for _, tc := range []struct {
		name string
		at   int
		err  error
	}{
		{"at start", 0, errBoom},
		{"small", 100, errBoom},
		{"midway", o.Big / 2, errBoom},
		{"late", o.Big - 1, errBoom},
		// A producer failing with io.ErrUnexpectedEOF (a truncated input) must not be
		// taken for the end of the stream.
		{"unexpected EOF", o.Big / 2, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := o.New(t)
			old := []byte("the previous content")
			MustPut(t, s, "victim", old)
			data := Data(7, o.Big)
			_, err := s.Put(ctxFor(t), "victim", &failingReader{data: data, n: tc.at, err: tc.err})
			if !errors.Is(err, tc.err) {
				t.Fatalf("Put = %v, want an error wrapping %v", err, tc.err)
			}
			if !strings.Contains(err.Error(), "victim") {
				t.Errorf("Put error %q does not name the key", err)
			}
			if got := MustGet(t, s, "victim"); !bytes.Equal(got, old) {
				t.Fatalf("after a failed Put the key holds %d bytes, want its previous content", len(got))
			}
			_, err = s.Put(ctxFor(t), "new", &failingReader{data: data, n: tc.at, err: tc.err})
			if !errors.Is(err, tc.err) {
				t.Fatalf("Put = %v, want an error wrapping %v", err, tc.err)
			}
			if err := s.Delete(ctxFor(t), "victim"); err != nil {
				t.Fatal(err)
			}
			CheckNothingLeft(t, o, s)
		})
	}
}

func testCancel(t *testing.T, o Options) {
	for _, at := range []int{0, o.Big / 2} {
		t.Run(fmt.Sprint("at ", at), func(t *testing.T) {
			s := o.New(t)
			ctx, cancel := context.WithCancel(ctxFor(t))
			defer cancel()
			r := &failingReader{data: Data(8, o.Big), n: at, onFail: cancel}
			_, err := s.Put(ctx, "cancelled", r)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put = %v, want an error wrapping context.Canceled", err)
			}
			CheckNothingLeft(t, o, s)
		})
	}
	t.Run("before start", func(t *testing.T) {
		s := o.New(t)
		ctx, cancel := context.WithCancel(ctxFor(t))
		cancel()
		_, err := s.Put(ctx, "cancelled", bytes.NewReader([]byte("data")))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put = %v, want an error wrapping context.Canceled", err)
		}
		CheckNothingLeft(t, o, s)
	})
}

func testConcurrent(t *testing.T, o Options) {
	s := o.New(t)
	var wg sync.WaitGroup
	const n = 6
	for i := range n {
		wg.Go(func() {
			data := Data(uint64(100+i), 1000*i)
			key := fmt.Sprintf("c/%d", i)
			res, err := s.Put(ctxFor(t), key, bytes.NewReader(data))
			if err != nil {
				t.Errorf("Put(%s): %v", key, err)
				return
			}
			if res.SHA256 != SHA256(data) {
				t.Errorf("Put(%s) sha256 %s, want %s", key, res.SHA256, SHA256(data))
			}
		})
	}
	wg.Wait()
	if got := Keys(t, s, "c/"); len(got) != n {
		t.Fatalf("List = %q, want %d keys", got, n)
	}
	for i := range n {
		if got := MustGet(t, s, fmt.Sprintf("c/%d", i)); !bytes.Equal(got, Data(uint64(100+i), 1000*i)) {
			t.Errorf("c/%d: content differs", i)
		}
	}
}
