package gcs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// deleters bounds how many deletes run at once: GCS deletes one object a request.
const deleters = 8

// List returns every object whose key starts with prefix, sorted by key, reading all pages.
func (s *Store) List(ctx context.Context, prefix string) ([]ourstorage.Object, error) {
	vs, err := s.list(ctx, prefix, false)
	if err != nil {
		return nil, fmt.Errorf("list %q in %s (after %d objects): %w", prefix, s, len(vs), explain(noSuchBucket(err)))
	}
	objs := make([]ourstorage.Object, len(vs))
	for i, v := range vs {
		objs[i] = ourstorage.Object{Key: v.Key, Size: v.Size, LastModified: v.LastModified}
	}
	return objs, nil
}

func (s *Store) list(ctx context.Context, prefix string, versions bool) ([]ourstorage.Version, error) {
	q := url.Values{"projection": {"noAcl"}, "fields": {"items(name,size,updated,generation,timeDeleted),nextPageToken"}}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if versions {
		q.Set("versions", "true")
	}
	var vs []ourstorage.Version
	for {
		resp, err := s.send(stall.WithAttempts(ctx), request{method: http.MethodGet, url: s.bucketURL("/o", q)})
		if err != nil {
			return vs, err
		}
		var page struct {
			Items         []object `json:"items"`
			NextPageToken string   `json:"nextPageToken"`
		}
		if err := decode(resp, &page); err != nil {
			return vs, err
		}
		for _, a := range page.Items {
			vs = append(vs, ourstorage.Version{Key: a.Name, VersionID: strconv.FormatInt(int64(a.Generation), 10), Size: int64(a.Size),
				LastModified: a.Updated.Time, Latest: a.TimeDeleted.IsZero()})
		}
		if page.NextPageToken == "" {
			break
		}
		q.Set("pageToken", page.NextPageToken)
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
		return nil, fmt.Errorf("list versions of %q in %s (after %d): %w", prefix, s, len(vs), explain(noSuchBucket(err)))
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
	if r.version != "" {
		if _, err := strconv.ParseInt(r.version, 10, 64); err != nil {
			return &ourstorage.KeyError{Key: r.key, VersionID: r.version, Err: fmt.Errorf("not a GCS generation: %w", err)}, nil
		}
	}
	resp, err := s.send(stall.WithAttempts(ctx), request{method: http.MethodDelete, url: s.objectURL(r.key, generationQuery(r.version))})
	var ge *apiError
	switch {
	case err == nil:
		drain(resp)
		return nil, nil
	case errors.As(err, &ge) && ge.Code == http.StatusNotFound:
		return nil, nil // already gone
	case errors.As(err, &ge) && heldRefusal(ge):
		return &ourstorage.KeyError{Key: r.key, VersionID: r.version, Err: fmt.Errorf("%w: %s", ourstorage.ErrLocked, serviceWords(ge))}, nil
	case errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed:
		return &ourstorage.KeyError{Key: r.key, VersionID: r.version, Err: fmt.Errorf("%s", serviceWords(ge))}, nil
	}
	return nil, fmt.Errorf("%s: %w", r.key, err)
}
