package azblob

import (
	"context"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Get opens key for reading. A dropped transfer resumes with a ranged read pinned to the
// blob's ETag, so a long restore does not restart from zero and never mixes two versions;
// at most MaxRetries times, and a stall three times in a row without a byte in between
// ends it.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("download %s from %s: %w", key, s, err)
	}
	ctx = stall.WithAttempts(ctx)
	out, err := s.client.NewBlobClient(key).DownloadStream(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return nil, fmt.Errorf("download %s from %s: %w", key, s, storage.ErrNotFound)
		}
		return nil, s.redact(fmt.Errorf("download %s from %s: %w", key, s, explain(short(err))))
	}
	r := out.NewRetryReader(ctx, &blob.RetryReaderOptions{
		MaxRetries:        int32(max(s.cfg.MaxRetries, 0)),
		EarlyCloseAsError: true,
		OnFailedRead: func(n int32, err error, rng blob.HTTPRange, willRetry bool) {
			if willRetry {
				s.log.Warn("download interrupted, resuming", "store", s.name, "key", key, "offset", rng.Offset, "error", s.redact(err).Error())
			}
		},
	})
	return &reader{s: s, key: key, r: r}, nil
}

// reader names the key and the store in the errors of a download.
type reader struct {
	s   *Store
	key string
	r   io.ReadCloser
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.redact(fmt.Errorf("download %s from %s: %w", r.key, r.s, explain(short(err))))
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }
