package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/mongostash/mongostash/storage"
)

// testConditional is the contract of storage.ConditionalWriter, run for the stores that
// implement it: write-if-absent, write-if-unchanged, and that of concurrent writers with
// the same condition exactly one wins.
func testConditional(t *testing.T, o Options) {
	t.Run("IfAbsent", func(t *testing.T) { testPutIfAbsent(t, o) })
	t.Run("IfTag", func(t *testing.T) { testPutIfTag(t, o) })
	t.Run("ReadTaggedMissing", func(t *testing.T) {
		cw := o.New(t).(storage.ConditionalWriter)
		if _, err := cw.ReadTagged(ctxFor(t), "lease/absent"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("ReadTagged(absent) = %v, want ErrNotFound", err)
		}
	})
	t.Run("RaceIfAbsent", func(t *testing.T) { testRace(t, o, false) })
	t.Run("RaceIfTag", func(t *testing.T) { testRace(t, o, true) })
}

func mustReadTagged(t *testing.T, cw storage.ConditionalWriter, key string) storage.Tagged {
	t.Helper()
	got, err := cw.ReadTagged(ctxFor(t), key)
	if err != nil {
		t.Fatalf("ReadTagged(%q): %v", key, err)
	}
	return got
}

func testPutIfAbsent(t *testing.T, o Options) {
	s := o.New(t)
	cw := s.(storage.ConditionalWriter)
	tag, err := cw.PutIf(ctxFor(t), "lease/a", []byte("first"), "")
	if err != nil || tag == "" {
		t.Fatalf("PutIf(absent key, if absent) = %q, %v; want a tag", tag, err)
	}
	got := mustReadTagged(t, cw, "lease/a")
	if string(got.Data) != "first" || got.Tag != tag {
		t.Fatalf("ReadTagged = %q tag %q, want %q tag %q", got.Data, got.Tag, "first", tag)
	}
	if _, err := cw.PutIf(ctxFor(t), "lease/a", []byte("second"), ""); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("PutIf(existing key, if absent) = %v, want ErrPrecondition", err)
	}
	if got := MustGet(t, s, "lease/a"); string(got) != "first" {
		t.Fatalf("after a refused PutIf the key holds %q, want %q", got, "first")
	}
	// The object is an ordinary one too: Delete removes it, and it may be created again.
	if err := s.Delete(ctxFor(t), "lease/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.PutIf(ctxFor(t), "lease/a", []byte("again"), ""); err != nil {
		t.Fatalf("PutIf(deleted key, if absent): %v", err)
	}
}

func testPutIfTag(t *testing.T, o Options) {
	s := o.New(t)
	cw := s.(storage.ConditionalWriter)
	tag1, err := cw.PutIf(ctxFor(t), "lease/b", []byte("v1"), "")
	if err != nil {
		t.Fatal(err)
	}
	tag2, err := cw.PutIf(ctxFor(t), "lease/b", []byte("v2"), tag1)
	if err != nil {
		t.Fatalf("PutIf(if tag matches): %v", err)
	}
	if tag2 == tag1 {
		t.Fatalf("the tag did not change with the content: %q", tag2)
	}
	// The old tag no longer matches: the write is refused and changes nothing.
	if _, err := cw.PutIf(ctxFor(t), "lease/b", []byte("v3"), tag1); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("PutIf(stale tag) = %v, want ErrPrecondition", err)
	}
	if got := mustReadTagged(t, cw, "lease/b"); string(got.Data) != "v2" || got.Tag != tag2 {
		t.Fatalf("ReadTagged = %q tag %q, want %q tag %q", got.Data, got.Tag, "v2", tag2)
	}
	// A plain Put changes the content behind the writer's back: its tag is stale too.
	MustPut(t, s, "lease/b", []byte("overwritten"))
	if _, err := cw.PutIf(ctxFor(t), "lease/b", []byte("v3"), tag2); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("PutIf(tag from before a Put) = %v, want ErrPrecondition", err)
	}
	// A tag of a key that was deleted matches nothing.
	if err := s.Delete(ctxFor(t), "lease/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.PutIf(ctxFor(t), "lease/b", []byte("v4"), tag2); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("PutIf(tag of a deleted key) = %v, want ErrPrecondition", err)
	}
	if _, err := s.Get(ctxFor(t), "lease/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a refused PutIf created the key: Get = %v", err)
	}
}

// testRace starts writers at once with the same condition (absent, or the same tag), each
// with its own content: exactly one succeeds, the others get ErrPrecondition, and the key
// holds the winner's content under the tag it was told.
func testRace(t *testing.T, o Options, ifTag bool) {
	const writers = 8
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			s := o.New(t)
			cw := s.(storage.ConditionalWriter)
			cond := ""
			if ifTag {
				var err error
				if cond, err = cw.PutIf(ctxFor(t), "lease/race", []byte("start"), ""); err != nil {
					t.Fatal(err)
				}
			}
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				wins  []int
				tags  = map[int]string{}
				start = make(chan struct{})
			)
			for i := range writers {
				wg.Go(func() {
					<-start
					tag, err := cw.PutIf(ctxFor(t), "lease/race", fmt.Appendf(nil, "writer %d", i), cond)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins = append(wins, i)
						tags[i] = tag
					case !errors.Is(err, storage.ErrPrecondition):
						t.Errorf("writer %d: %v, want success or ErrPrecondition", i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if len(wins) != 1 {
				t.Fatalf("%d writers succeeded (%v), want exactly one", len(wins), wins)
			}
			got := mustReadTagged(t, cw, "lease/race")
			if want := fmt.Appendf(nil, "writer %d", wins[0]); !bytes.Equal(got.Data, want) || got.Tag != tags[wins[0]] {
				t.Fatalf("the key holds %q tag %q, want the winner's %q tag %q", got.Data, got.Tag, want, tags[wins[0]])
			}
		})
	}
}
