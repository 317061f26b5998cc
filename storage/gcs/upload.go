package gcs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// copyBufSize is the size of the reads from the caller's stream.
const copyBufSize = 1 << 20

// Put stores r under key: one request when the stream is shorter than a chunk, else a
// resumable upload, finalized only once the whole stream was read. A failed or cancelled
// Put cancels the upload before it is finalized, so the key keeps its previous content.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (ourstorage.PutResult, error) {
	if err := checkKey(key); err != nil {
		return ourstorage.PutResult{}, fmt.Errorf("upload %s to %s: %w", key, s, err)
	}
	res, err := s.put(ctx, key, r)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		if statusOf(err) == 404 { // an upload needs nothing else to exist
			err = fmt.Errorf("%w: create it first, or check the bucket name (%w)", ErrNoSuchBucket, err)
		}
		return ourstorage.PutResult{}, fmt.Errorf("upload %s to %s: %w", key, s, explain(err))
	}
	return res, nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader) (ourstorage.PutResult, error) {
	if err := ctx.Err(); err != nil {
		return ourstorage.PutResult{}, context.Cause(ctx)
	}
	u := s.newUpload(stall.WithAttempts(ctx), key, nil, nil)
	h := sha256.New()
	n, err := copyStream(ctx, io.MultiWriter(u, h), r)
	if err == nil {
		err = ctx.Err() // a cancellation that came with the last bytes still wins
	}
	if err != nil {
		u.cancel()
		return ourstorage.PutResult{}, err
	}
	if _, err := u.finish(); err != nil {
		u.cancel()
		return ourstorage.PutResult{}, fmt.Errorf("finalize after %d bytes: %w", n, err)
	}
	return ourstorage.PutResult{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// copyStream copies r to w, telling the stream's errors (io.ErrUnexpectedEOF among them:
// a producer that failed never looks finished) from the upload's.
func copyStream(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, copyBufSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, context.Cause(ctx)
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			if _, err := w.Write(buf[:m]); err != nil {
				return n, fmt.Errorf("send at byte %d: %w", n, err)
			}
			n += int64(m)
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil && ctx.Err() != nil && errors.Is(rerr, ctx.Err()):
			return n, context.Cause(ctx)
		case rerr != nil:
			return n, fmt.Errorf("read the stream at byte %d: %w", n, rerr)
		}
	}
}
