package s3

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mongostash/mongostash/storage"
)

var _ storage.Versioned = (*Store)(nil)

// ListVersions returns every version and delete marker under prefix, reading all pages,
// sorted by key and, within a key, newest first. An unversioned bucket lists each object
// once, as its latest version (version ID "null").
func (s *Store) ListVersions(ctx context.Context, prefix string) ([]storage.Version, error) {
	var vs []storage.Version
	p := awss3.NewListObjectVersionsPaginator(s.client, &awss3.ListObjectVersionsInput{Bucket: &s.cfg.Bucket, Prefix: optional(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.redact(fmt.Errorf("list versions of %q in %s (after %d): %w", prefix, s, len(vs), err))
		}
		for _, v := range page.Versions {
			vs = append(vs, storage.Version{Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId), Size: aws.ToInt64(v.Size),
				LastModified: aws.ToTime(v.LastModified), Latest: aws.ToBool(v.IsLatest)})
		}
		for _, m := range page.DeleteMarkers {
			vs = append(vs, storage.Version{Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId),
				LastModified: aws.ToTime(m.LastModified), Latest: aws.ToBool(m.IsLatest), DeleteMarker: true})
		}
	}
	slices.SortStableFunc(vs, func(a, b storage.Version) int {
		if c := cmp.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if a.Latest != b.Latest { // the latest first, whatever the clocks say
			if a.Latest {
				return -1
			}
			return 1
		}
		return b.LastModified.Compare(a.LastModified)
	})
	return vs, nil
}

// DeleteVersions removes those versions (and delete markers) for good, as Delete removes
// keys: every version is tried, and those the store refuses are named in a
// *storage.DeleteError, a locked one wrapping storage.ErrLocked.
func (s *Store) DeleteVersions(ctx context.Context, versions []storage.Version) error {
	ids := make([]types.ObjectIdentifier, len(versions))
	for i := range versions {
		ids[i] = types.ObjectIdentifier{Key: &versions[i].Key, VersionId: optional(versions[i].VersionID)}
	}
	return s.deleteIDs(ctx, ids)
}
