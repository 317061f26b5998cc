package azblob

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// deleters bounds how many deletes run at once: Azure deletes one blob a request.
const deleters = 8

// List returns every blob whose key starts with prefix, sorted by key, reading all pages.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	objs, err := s.list(ctx, prefix, container.ListBlobsInclude{})
	if err != nil {
		return nil, s.redact(fmt.Errorf("list %q in %s (after %d objects): %w", prefix, s, len(objs), explain(short(err))))
	}
	out := make([]storage.Object, len(objs))
	for i, o := range objs {
		out[i] = storage.Object{Key: o.Key, Size: o.Size, LastModified: o.LastModified}
	}
	return out, nil
}

// listed is one blob of a listing.
type listed struct {
	storage.Object
	VersionID string
	Current   bool
}

func (s *Store) list(ctx context.Context, prefix string, include container.ListBlobsInclude) ([]listed, error) {
	var objs []listed
	opts := &container.ListBlobsFlatOptions{Include: include}
	if prefix != "" {
		opts.Prefix = &prefix
	}
	p := s.client.NewListBlobsFlatPager(opts)
	for p.More() {
		page, err := p.NextPage(stall.WithAttempts(ctx))
		if err != nil {
			return objs, err
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil || b.Properties == nil {
				continue
			}
			o := listed{Object: storage.Object{Key: *b.Name}, Current: b.IsCurrentVersion == nil || *b.IsCurrentVersion}
			if b.Properties.ContentLength != nil {
				o.Size = *b.Properties.ContentLength
			}
			if b.Properties.LastModified != nil {
				o.LastModified = *b.Properties.LastModified
			}
			if b.VersionID != nil {
				o.VersionID = *b.VersionID
			}
			objs = append(objs, o)
		}
	}
	slices.SortStableFunc(objs, func(a, b listed) int { return strings.Compare(a.Key, b.Key) })
	return objs, nil
}

// Delete removes keys, deleteBlobs at once. Absent keys are not an error. Keys the service
// refuses are named in a *storage.DeleteError once every key was tried; a refusal for an
// immutability policy or a legal hold wraps storage.ErrLocked. A request that fails as a
// whole (the service unreachable, the credentials refused) stops it.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	refs := make([]versionRef, len(keys))
	for i, k := range keys {
		refs[i] = versionRef{key: k}
	}
	return s.deleteRefs(ctx, refs)
}

type versionRef struct{ key, versionID string }

func (s *Store) deleteRefs(ctx context.Context, refs []versionRef) error {
	all := make([]storage.Ref, len(refs))
	for i, r := range refs {
		if err := checkKey(r.key); err != nil {
			return fmt.Errorf("delete %s from %s: %w", r.key, s, err)
		}
		all[i] = storage.Ref{Key: r.key, VersionID: r.versionID}
	}
	err := storage.DeleteEach(ctx, deleters, all, func(ctx context.Context, r storage.Ref) (*storage.KeyError, error) {
		return s.deleteOne(ctx, versionRef{key: r.Key, versionID: r.VersionID})
	})
	var de *storage.DeleteError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return s.redact(fmt.Errorf("delete from %s: %w", s, err))
	default:
		return s.redact(fmt.Errorf("delete from %s: %w", s, explain(err)))
	}
}

// deleteOne deletes one blob or version: a refusal of this key comes back as a KeyError,
// a failure of the whole service as an error.
func (s *Store) deleteOne(ctx context.Context, r versionRef) (*storage.KeyError, error) {
	bc := s.client.NewBlobClient(r.key)
	if r.versionID != "" {
		var err error
		if bc, err = bc.WithVersionID(r.versionID); err != nil {
			return nil, err
		}
	}
	var opts *blob.DeleteOptions
	if r.versionID == "" {
		opts = &blob.DeleteOptions{DeleteSnapshots: to(blob.DeleteSnapshotsOptionTypeInclude)}
	}
	_, err := bc.Delete(stall.WithAttempts(ctx), opts)
	var re *azcore.ResponseError
	switch {
	case err == nil, bloberror.HasCode(err, bloberror.BlobNotFound):
		return nil, nil
	case lockRefused(err):
		return &storage.KeyError{Key: r.key, VersionID: r.versionID, Err: fmt.Errorf("%w: %w", storage.ErrLocked, short(err))}, nil
	case errors.As(err, &re) && re.StatusCode == 404 && re.ErrorCode == "":
		return nil, nil
	case errors.As(err, &re) && (re.StatusCode == 409 || re.StatusCode == 412):
		return &storage.KeyError{Key: r.key, VersionID: r.versionID, Err: short(err)}, nil
	}
	return nil, fmt.Errorf("%s: %w", r.key, short(err))
}

// lockRefused reports the service's refusal to delete a blob under an immutability policy
// or a legal hold.
func lockRefused(err error) bool {
	var re *azcore.ResponseError
	return bloberror.HasCode(err, bloberror.BlobImmutableDueToPolicy) ||
		(errors.As(err, &re) && re.StatusCode == 409 && strings.Contains(re.ErrorCode, "Immutable"))
}

// AbortStaleUploads deletes the uncommitted blobs under prefix (keys with staged blocks and
// no committed content: what a killed Put leaves) last written more than olderThan ago,
// and returns how many it deleted.
func (s *Store) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	n, err := s.abortStale(ctx, prefix, olderThan)
	if err != nil {
		return n, s.redact(fmt.Errorf("remove stale uploads under %q in %s: %w", prefix, s, explain(short(err))))
	}
	return n, nil
}

func (s *Store) abortStale(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	committed, err := s.list(ctx, prefix, container.ListBlobsInclude{})
	if err != nil {
		return 0, err
	}
	all, err := s.list(ctx, prefix, container.ListBlobsInclude{UncommittedBlobs: true})
	if err != nil {
		return 0, err
	}
	known := map[string]bool{}
	for _, o := range committed {
		known[o.Key] = true
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	for _, o := range all {
		if known[o.Key] || !o.LastModified.Before(cutoff) {
			continue
		}
		bc := s.client.NewBlobClient(o.Key)
		// Only a key with nothing committed is deleted: a Put that committed it since the
		// listing made it a blob.
		if _, err := bc.GetProperties(stall.WithAttempts(ctx), nil); err == nil || statusOf(err) != 404 {
			continue
		}
		if _, err := bc.Delete(stall.WithAttempts(ctx), nil); err != nil && statusOf(err) != 404 {
			return n, fmt.Errorf("delete the uncommitted blocks of %s: %w", o.Key, short(err))
		}
		n++
	}
	return n, nil
}

func to[T any](v T) *T { return &v }
