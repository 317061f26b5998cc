package storage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

// TestDeleteEach: refusals are collected, sorted, into a DeleteError once every key was
// tried; a failure of the whole service stops the deletes not yet started and comes back as
// it is; never more than n run at once.
func TestDeleteEach(t *testing.T) {
	refs := make([]Ref, 40)
	for i := range refs {
		refs[i] = Ref{Key: fmt.Sprintf("k%02d", 39-i)}
	}
	var running, peak, tried atomic.Int32
	err := DeleteEach(context.Background(), 3, refs, func(_ context.Context, r Ref) (*KeyError, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		tried.Add(1)
		if r.Key[2] == '7' { // k07, k17, k27, k37
			return &KeyError{Key: r.Key, Err: ErrLocked}, nil
		}
		return nil, nil
	})
	var de *DeleteError
	if !errors.As(err, &de) || len(de.Failed) != 4 || de.Failed[0].Key != "k07" || de.Failed[3].Key != "k37" || !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want the four refusals, sorted, as locked", err)
	}
	if tried.Load() != 40 || peak.Load() > 3 {
		t.Errorf("tried %d of 40, at most %d at once (want ≤ 3)", tried.Load(), peak.Load())
	}

	boom := errors.New("service down")
	tried.Store(0)
	err = DeleteEach(context.Background(), 1, refs, func(_ context.Context, r Ref) (*KeyError, error) {
		tried.Add(1)
		return nil, boom
	})
	if err != boom || tried.Load() != 1 {
		t.Errorf("err = %v after %d deletes, want the service's error after the first", err, tried.Load())
	}
}
