package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mongostash/mongostash/storage"
)

// deleteBatch is the most keys one DeleteObjects request may name.
const deleteBatch = 1000

// List returns every object whose key starts with prefix, sorted by key, reading all pages.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	return s.ListRange(ctx, prefix, "", "")
}

var _ storage.RangeLister = (*Store)(nil)

// ListRange lists the objects under prefix after `after` (S3's StartAfter) and before
// `before`, stopping at the first page that reaches before: a reader of the oplog folder
// lists the chunks written since its index, not the month before.
func (s *Store) ListRange(ctx context.Context, prefix, after, before string) ([]storage.Object, error) {
	var objs []storage.Object
	in := &awss3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: optional(prefix)}
	if after > prefix {
		in.StartAfter = &after
	}
	p := awss3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.redact(fmt.Errorf("list %q in %s (after %d objects): %w", prefix, s, len(objs), err))
		}
		done := false
		for _, o := range page.Contents {
			obj := storage.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				obj.LastModified = *o.LastModified
			}
			done = done || (before != "" && obj.Key >= before)
			objs = append(objs, obj)
		}
		if done {
			break
		}
	}
	// S3 already lists in key order, but not every S3-compatible store does (nor honours
	// StartAfter): the range is kept here too.
	slices.SortFunc(objs, func(a, b storage.Object) int { return strings.Compare(a.Key, b.Key) })
	return storage.KeepRange(objs, after, before), nil
}

// Delete removes keys with DeleteObjects, up to 1,000 keys a request. Stores that do not
// implement DeleteObjects (or insist on a checksum the SDK does not send) get one
// DeleteObject per key instead, from then on. Absent keys are not an error. Keys the store
// refuses are named in a *storage.DeleteError once every key was tried; a refusal for a
// lock (AccessDenied) wraps storage.ErrLocked. A batch refused as a whole with
// AccessDenied is retried key by key, so that one locked key does not hide the others.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	ids := make([]types.ObjectIdentifier, len(keys))
	for i := range keys {
		ids[i] = types.ObjectIdentifier{Key: &keys[i]}
	}
	return s.deleteIDs(ctx, ids)
}

// deleteIDs deletes objects or, with version IDs, versions, batch by batch. A request
// that fails as a whole (the store unreachable) stops it.
func (s *Store) deleteIDs(ctx context.Context, ids []types.ObjectIdentifier) error {
	var failed []storage.KeyError
	for len(ids) > 0 {
		batch := ids[:min(len(ids), deleteBatch)]
		ids = ids[len(batch):]
		f, err := s.deleteBatch(ctx, batch)
		if err != nil {
			return s.redact(fmt.Errorf("delete from %s: %w", s, err))
		}
		failed = append(failed, f...)
	}
	if len(failed) > 0 {
		return s.redact(fmt.Errorf("delete from %s: %w", s, &storage.DeleteError{Failed: failed}))
	}
	return nil
}

func (s *Store) deleteBatch(ctx context.Context, ids []types.ObjectIdentifier) ([]storage.KeyError, error) {
	for _, id := range ids {
		if err := checkKey(aws.ToString(id.Key)); err != nil {
			return nil, fmt.Errorf("%s: %w", aws.ToString(id.Key), err)
		}
	}
	if !s.noBatchDelete.Load() {
		out, err := s.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
			Bucket: &s.cfg.Bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		switch {
		case err == nil:
			var failed []storage.KeyError
			for _, e := range out.Errors {
				code := aws.ToString(e.Code)
				if code == "NoSuchKey" || code == "NoSuchVersion" {
					continue
				}
				failed = append(failed, keyError(aws.ToString(e.Key), aws.ToString(e.VersionId), code, 0,
					fmt.Errorf("%s: %s", code, aws.ToString(e.Message))))
			}
			return failed, nil
		case lockRefused(apiCode(err), httpStatus(err)):
			s.log.Warn("the store refused a batch delete; deleting one by one to tell which objects it refuses",
				"store", s.name, "objects", len(ids), "error", s.redact(err).Error())
		case !unsupported(err):
			return nil, fmt.Errorf("delete %d objects: %w", len(ids), err)
		default:
			s.noBatchDelete.Store(true)
			s.log.Warn("the store does not support deleting many objects at once; deleting one by one",
				"store", s.name, "error", s.redact(err).Error())
		}
	}
	var failed []storage.KeyError
	for _, id := range ids {
		_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: id.Key, VersionId: id.VersionId})
		switch {
		case err == nil, isNotFound(err), apiCode(err) == "NoSuchVersion":
		case !gotAnswer(err):
			return failed, fmt.Errorf("%s: %w", aws.ToString(id.Key), err) // the store is not answering: stop
		default:
			failed = append(failed, keyError(aws.ToString(id.Key), aws.ToString(id.VersionId), apiCode(err), httpStatus(err), err))
		}
	}
	return failed, nil
}

// keyError is the storage.KeyError of a refused delete, wrapping storage.ErrLocked when
// the refusal may be a lock's.
func keyError(key, versionID, code string, status int, err error) storage.KeyError {
	if lockRefused(code, status) {
		err = fmt.Errorf("%w: %w", storage.ErrLocked, err)
	}
	return storage.KeyError{Key: key, VersionID: versionID, Err: err}
}

// unsupported reports an answer meaning "this store does not do DeleteObjects".
func unsupported(err error) bool {
	switch apiCode(err) {
	case "NotImplemented", "MethodNotAllowed", "MissingContentMD5", "XNotImplemented":
		return true
	}
	switch httpStatus(err) {
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// AbortStaleUploads aborts the multipart uploads under prefix started more than olderThan
// ago and returns how many it aborted. Put aborts its own upload when it fails; these are
// what a killed process left behind, and they cost money until aborted.
func (s *Store) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	n := 0
	err := s.eachUpload(ctx, prefix, func(up types.MultipartUpload) error {
		if up.Initiated == nil || !up.Initiated.Before(cutoff) {
			return nil
		}
		_, err := s.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
			Bucket: &s.cfg.Bucket, Key: up.Key, UploadId: up.UploadId,
		})
		if err != nil && apiCode(err) != "NoSuchUpload" {
			return fmt.Errorf("abort upload of %s started %s: %w", aws.ToString(up.Key), up.Initiated.UTC().Format(time.RFC3339), err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, s.redact(fmt.Errorf("abort stale uploads under %q in %s: %w", prefix, s, err))
	}
	return n, nil
}

// eachUpload calls fn for every multipart upload in progress under prefix, reading all
// pages.
func (s *Store) eachUpload(ctx context.Context, prefix string, fn func(types.MultipartUpload) error) error {
	in := &awss3.ListMultipartUploadsInput{Bucket: &s.cfg.Bucket, Prefix: optional(prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("list multipart uploads: %w", err)
		}
		for _, up := range out.Uploads {
			if err := fn(up); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		next := aws.ToString(out.NextKeyMarker)
		nextID := aws.ToString(out.NextUploadIdMarker)
		if next == aws.ToString(in.KeyMarker) && nextID == aws.ToString(in.UploadIdMarker) {
			return errors.New("list multipart uploads: the store returned the same page twice")
		}
		in.KeyMarker, in.UploadIdMarker = optional(next), optional(nextID)
	}
}
