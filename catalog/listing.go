package catalog

import (
	"context"
	"errors"
	"strings"

	"github.com/mongostash/mongostash/storage"
	"golang.org/x/sync/errgroup"
)

// Backups and oplog chunks are listed the same way: objects whose key parses, each with
// the manifest written next to it once it was complete, and the manifests left without
// their object. listObjects sorts a listing out, readManifests reads the manifests; manifestio.go
// writes, reads and decodes each one.

// manifestReaders bounds how many manifests a listing fetches at once.
const manifestReaders = 8

// listObjects sorts a listing out by parse: found is called, in the listing's order, with
// each object whose key parse accepts, its manifest's key and whether the listing holds
// that manifest; orphans are the manifests named after a key parse accepts whose object is
// not there; rest is everything else but the manifests of found objects.
func listObjects[N any](all []storage.Object, parse func(key string) (N, bool),
	found func(name N, o storage.Object, manifestKey string, hasManifest bool)) (orphans, rest []storage.Object) {
	exists := make(map[string]bool, len(all))
	for _, o := range all {
		exists[o.Key] = true
	}
	for _, o := range all {
		if name, ok := parse(o.Key); ok {
			mk := ManifestKey(o.Key)
			found(name, o, mk, exists[mk])
			continue
		}
		if key, ok := strings.CutSuffix(o.Key, ManifestSuffix); ok {
			if _, named := parse(key); named {
				if !exists[key] {
					orphans = append(orphans, o)
				}
				continue
			}
		}
		rest = append(rest, o)
	}
	return orphans, rest
}

// listWithoutOplog lists prefix but its oplog folder, which holds chunks by the thousand
// and is read through its index (oplogindex.go): the part before the folder, then the part
// after it, each one listing on a store that lists ranges.
func listWithoutOplog(ctx context.Context, s storage.Store, prefix string) ([]storage.Object, error) {
	folder := prefix + OplogFolder
	before, err := storage.ListRange(ctx, s, prefix, "", folder)
	if err != nil {
		return nil, err // the store's error says what it listed where
	}
	// Every key of the folder sorts before this one but those whose first character after
	// it is the last Unicode has (which the catalog then ignores).
	after, err := storage.ListRange(ctx, s, prefix, folder+"\U0010FFFF", "")
	if err != nil {
		return nil, err
	}
	return append(before, after...), nil
}

// manifestSlot is where readManifests puts what it read of one object's manifest: the
// Manifest, HasManifest and ManifestErr fields of a Backup or a Chunk.
type manifestSlot[M any] struct {
	key      string // the object's key
	has      *bool
	manifest **M
	invalid  *error
}

// readManifests reads, manifestReaders at once, the manifest of every slot whose manifest
// the listing found, with the rule both kinds of manifest follow: read, it is set; deleted
// since the listing, the object has none; not a manifest this version understands, the
// object says why and the listing goes on; any other error (the store's, which names the
// key) fails the listing. more are other reads of the listing, run beside them.
func readManifests[M any](ctx context.Context, slots []manifestSlot[M], read func(ctx context.Context, key string) (*M, error), more ...func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestReaders)
	for _, sl := range slots {
		if !*sl.has {
			continue
		}
		g.Go(func() error {
			m, err := read(gctx, sl.key)
			switch {
			case err == nil:
				*sl.manifest = m
			case errors.Is(err, storage.ErrNotFound):
				*sl.has = false // deleted since the listing
			case errors.Is(err, ErrInvalidManifest):
				*sl.invalid = err
			default:
				return err
			}
			return nil
		})
	}
	for _, fn := range more {
		g.Go(func() error { return fn(gctx) })
	}
	return g.Wait()
}
