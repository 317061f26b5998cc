package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/storage"
)

// Get opens key for reading. The reader resumes a dropped transfer with a ranged GET from
// the first byte not yet received, pinned to the object's ETag, up to MaxRetries times in a
// row without progress. Reads use ctx; Close releases the connection.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("download %s from %s: %w", key, s, err)
	}
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("download %s from %s: %w", key, s, storage.ErrNotFound)
		}
		return nil, s.redact(fmt.Errorf("download %s from %s: %w", key, s, err))
	}
	r := &resumingReader{s: s, ctx: ctx, key: key, body: out.Body, size: -1}
	if out.ContentLength != nil {
		r.size = *out.ContentLength
	}
	if out.ETag != nil {
		r.etag = *out.ETag
	}
	return r, nil
}

// resumingReader reads an object, resuming after dropped connections. Like most readers
// it is not for concurrent use; cancelling the context passed to Get interrupts a Read.
type resumingReader struct {
	s    *Store
	ctx  context.Context
	key  string
	etag string // pins resumed reads to the version first opened
	size int64  // -1 when the store did not say

	body    io.ReadCloser
	off     int64 // bytes delivered so far
	fails   int   // failed attempts since the last byte arrived
	closed  bool
	lastErr error // sticky final error
}

func (r *resumingReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("download %s from %s: read after close", r.key, r.s)
	}
	if r.lastErr != nil {
		return 0, r.lastErr
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if r.body == nil {
			if err := r.reopen(); err != nil {
				r.lastErr = r.s.redact(fmt.Errorf("download %s from %s: resume at byte %d: %w", r.key, r.s, r.off, err))
				return 0, r.lastErr
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.fails = 0
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && (r.size < 0 || r.off == r.size):
			r.lastErr = io.EOF
			return n, io.EOF
		case r.size >= 0 && r.off > r.size:
			r.lastErr = fmt.Errorf("download %s from %s: received more than the %d bytes announced", r.key, r.s, r.size)
			return n, r.lastErr
		case r.size >= 0 && r.off == r.size:
			// Everything arrived, and then an error: the SDK's end-to-end checksum
			// failed, or the connection broke at the very end. Resuming cannot tell
			// which, and must not hide the former.
			r.lastErr = r.s.redact(fmt.Errorf("download %s from %s: after all %d bytes: %w", r.key, r.s, r.size, err))
			return n, r.lastErr
		}
		// The transfer broke (or ended early): drop the connection and resume.
		r.body.Close()
		r.body = nil
		if cerr := r.ctx.Err(); cerr != nil {
			r.lastErr = fmt.Errorf("download %s from %s: %w", r.key, r.s, context.Cause(r.ctx))
			return n, r.lastErr
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.fails++
		if errors.Is(err, ErrStalled) && r.fails >= maxStallAttempts {
			r.lastErr = r.s.redact(fmt.Errorf("download %s from %s: stalled at byte %d, %d times in a row: %w",
				r.key, r.s, r.off, r.fails, err))
			return n, r.lastErr
		}
		if r.fails > r.s.cfg.MaxRetries {
			r.lastErr = r.s.redact(fmt.Errorf("download %s from %s: connection lost at byte %d, %d times in a row without progress: %w",
				r.key, r.s, r.off, r.fails, err))
			return n, r.lastErr
		}
		r.s.retries.Add(1)
		storage.FailedAttempt(r.ctx, r.s.redact(err))
		r.s.log.Warn("download interrupted, resuming", "store", r.s.name, "key", r.key, "offset", r.off, "error", r.s.redact(err).Error())
		if n > 0 {
			return n, nil // deliver what we have; the next Read resumes
		}
		if err := sleepCtx(r.ctx, r.s.backoff(r.fails)); err != nil {
			r.lastErr = fmt.Errorf("download %s from %s: %w", r.key, r.s, err)
			return 0, r.lastErr
		}
	}
}

// reopen asks for the rest of the object from r.off.
func (r *resumingReader) reopen() error {
	in := &awss3.GetObjectInput{Bucket: &r.s.cfg.Bucket, Key: &r.key, Range: strPtr(fmt.Sprintf("bytes=%d-", r.off))}
	if r.etag != "" {
		in.IfMatch = &r.etag
	}
	out, err := r.s.client.GetObject(r.ctx, in)
	if err != nil {
		if code := apiCode(err); code == "PreconditionFailed" || httpStatus(err) == 412 {
			return fmt.Errorf("the object changed while it was read: %w", err)
		}
		return err
	}
	want := fmt.Sprintf("bytes %d-", r.off)
	switch {
	case out.ContentRange != nil && strings.HasPrefix(*out.ContentRange, want):
	case out.ContentRange == nil && out.ContentLength != nil && *out.ContentLength == r.size:
		// The store ignored the range and sent everything: skip what we have.
		if _, err := io.CopyN(io.Discard, out.Body, r.off); err != nil {
			out.Body.Close()
			return err
		}
	default:
		out.Body.Close()
		return fmt.Errorf("the store answered the range request with %q", strDeref(out.ContentRange))
	}
	if out.ETag != nil && r.etag != "" && *out.ETag != r.etag {
		out.Body.Close()
		return fmt.Errorf("the object changed while it was read (ETag %s, was %s)", *out.ETag, r.etag)
	}
	r.body = out.Body
	return nil
}

func (r *resumingReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

func isNotFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound":
		return true
	}
	return httpStatus(err) == 404 && apiCode(err) != "NoSuchBucket"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func strPtr(s string) *string { return &s }

func strDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
