package gcs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// deleters bounds how many deletes run at once: GCS deletes one object a request.
const deleters = 8

// List returns every object whose key starts with prefix, sorted by key, reading all pages.
func (s *Store) List(ctx context.Context, prefix string) ([]ourstorage.Object, error) {
	vs, err := s.list(ctx, prefix, false)
	if err != nil {
		return nil, fmt.Errorf("list %q in %s (after %d objects): %w", prefix, s, len(vs), explain(err))
	}
	objs := make([]ourstorage.Object, len(vs))
	for i, v := range vs {
		objs[i] = ourstorage.Object{Key: v.Key, Size: v.Size, LastModified: v.LastModified}
	}
	return objs, nil
}

func (s *Store) list(ctx context.Context, prefix string, versions bool) ([]ourstorage.Version, error) {
	q := &storage.Query{Prefix: prefix, Versions: versions, Projection: storage.ProjectionNoACL}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated", "Generation", "Deleted"}); err != nil {
		return nil, err
	}
	it := s.bucket.Objects(stall.WithAttempts(ctx), q)
	var vs []ourstorage.Version
	for {
		a, err := it.Next()
		if errors.Is(err, errDone) {
			break
		}
		if err != nil {
			return vs, err
		}
		vs = append(vs, ourstorage.Version{Key: a.Name, VersionID: strconv.FormatInt(a.Generation, 10), Size: a.Size,
			LastModified: a.Updated, Latest: a.Deleted.IsZero()})
	}
	slices.SortStableFunc(vs, func(a, b ourstorage.Version) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if a.Latest != b.Latest {
			if a.Latest {
				return -1
			}
			return 1
		}
		ga, _ := strconv.ParseInt(a.VersionID, 10, 64)
		gb, _ := strconv.ParseInt(b.VersionID, 10, 64)
		return cmp.Compare(gb, ga) // newest generation first
	})
	return vs, nil
}

// ListVersions returns every generation of the keys under prefix (a bucket without object
// versioning has only the live ones), sorted by key, the live one first, then newest
// first. GCS has no delete markers: a deleted key of a versioned bucket has only
// noncurrent generations.
func (s *Store) ListVersions(ctx context.Context, prefix string) ([]ourstorage.Version, error) {
	vs, err := s.list(ctx, prefix, true)
	if err != nil {
		return nil, fmt.Errorf("list versions of %q in %s (after %d): %w", prefix, s, len(vs), explain(err))
	}
	return vs, nil
}

// DeleteVersions removes those generations for good; those the service refuses are named
// in a *storage.DeleteError, one under a retention or a hold wrapping storage.ErrLocked.
func (s *Store) DeleteVersions(ctx context.Context, versions []ourstorage.Version) error {
	refs := make([]ref, len(versions))
	for i, v := range versions {
		refs[i] = ref{key: v.Key, version: v.VersionID}
	}
	return s.deleteRefs(ctx, refs)
}

// Delete removes keys (their live generation). Absent keys are not an error. Keys the
// service refuses are named in a *storage.DeleteError once every key was tried; a refusal
// for a retention or a hold wraps storage.ErrLocked. A request that fails as a whole (the
// service unreachable, the credentials refused) stops it.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	refs := make([]ref, len(keys))
	for i, k := range keys {
		refs[i] = ref{key: k}
	}
	return s.deleteRefs(ctx, refs)
}

type ref struct{ key, version string }

func (s *Store) deleteRefs(ctx context.Context, refs []ref) error {
	all := make([]ourstorage.Ref, len(refs))
	for i, r := range refs {
		if err := checkKey(r.key); err != nil {
			return fmt.Errorf("delete %s from %s: %w", r.key, s, err)
		}
		all[i] = ourstorage.Ref{Key: r.key, VersionID: r.version}
	}
	err := ourstorage.DeleteEach(ctx, deleters, all, func(ctx context.Context, r ourstorage.Ref) (*ourstorage.KeyError, error) {
		return s.deleteOne(ctx, ref{key: r.Key, version: r.VersionID})
	})
	var de *ourstorage.DeleteError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return fmt.Errorf("delete from %s: %w", s, err)
	default:
		return fmt.Errorf("delete from %s: %w", s, explain(err))
	}
}

func (s *Store) deleteOne(ctx context.Context, r ref) (*ourstorage.KeyError, error) {
	obj := s.bucket.Object(r.key)
	if r.version != "" {
		g, err := strconv.ParseInt(r.version, 10, 64)
		if err != nil {
			return &ourstorage.KeyError{Key: r.key, VersionID: r.version, Err: fmt.Errorf("not a GCS generation: %w", err)}, nil
		}
		obj = obj.Generation(g)
	}
	err := obj.Delete(stall.WithAttempts(ctx))
	var ge *googleapi.Error
	switch {
	case err == nil, errors.Is(err, storage.ErrObjectNotExist):
		return nil, nil
	case errors.As(err, &ge) && heldRefusal(ge):
		return &ourstorage.KeyError{Key: r.key, VersionID: r.version, Err: fmt.Errorf("%w: %s", ourstorage.ErrLocked, serviceWords(ge))}, nil
	case errors.As(err, &ge) && ge.Code == 412:
		return &ourstorage.KeyError{Key: r.key, VersionID: r.version, Err: fmt.Errorf("%s", serviceWords(ge))}, nil
	}
	return nil, fmt.Errorf("%s: %w", r.key, err)
}
