package storage

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Ref is one object, or one version of it, to delete.
type Ref struct {
	Key       string
	VersionID string // empty: the current object
}

// DeleteEach deletes refs with at most n deletes at once, for the stores whose service
// deletes one key per request (Azure, GCS). del returns a *KeyError for a key the service
// refused (the others go on) and an error for a failure of the whole service, which stops
// the deletes not yet started and is returned as it is. The refused keys come back, once
// every key was tried, as a *DeleteError sorted by key and version.
func DeleteEach(ctx context.Context, n int, refs []Ref, del func(context.Context, Ref) (*KeyError, error)) error {
	var (
		mu     sync.Mutex
		failed []KeyError
		fatal  error
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, n)
	for _, r := range refs {
		sem <- struct{}{}
		mu.Lock()
		stop := fatal != nil
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			ke, err := del(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && fatal == nil:
				fatal = err
			case ke != nil:
				failed = append(failed, *ke)
			}
		})
	}
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	if len(failed) > 0 {
		slices.SortFunc(failed, func(a, b KeyError) int {
			return strings.Compare(a.Key+"\x00"+a.VersionID, b.Key+"\x00"+b.VersionID)
		})
		return &DeleteError{Failed: failed}
	}
	return nil
}
