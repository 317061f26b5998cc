package gcs

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Get opens key for reading. A dropped transfer is resumed with a ranged read of the same
// generation; a stall three times in a row without a byte in between ends it. A whole
// read is checked against the object's CRC32C.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("download %s from %s: %w", key, s, err)
	}
	r, err := s.open(stall.WithAttempts(ctx), key)
	if err != nil {
		return nil, fmt.Errorf("download %s from %s: %w", key, s, err)
	}
	return r, nil
}

// open starts the download of key's live generation.
func (s *Store) open(ctx context.Context, key string) (*reader, error) {
	r := &reader{s: s, key: key, ctx: ctx, size: -1}
	if err := r.open(); err != nil {
		if statusOf(err) == http.StatusNotFound {
			return nil, ourstorage.ErrNotFound
		}
		return nil, explain(err)
	}
	return r, nil
}

// reader reads one generation of an object, resuming after a broken transfer, and names
// the key and the store in its errors.
type reader struct {
	s   *Store
	key string
	ctx context.Context

	body       io.ReadCloser
	generation string // the generation read, pinned from the first answer on
	off        int64  // bytes delivered
	size       int64  // the object's, or -1
	crc        uint32 // of the bytes delivered
	wantCRC    string // the object's CRC32C (base64), when the service gave it
	failures   int
	closed     bool
}

// open sends the request that reads from off.
func (r *reader) open() error {
	q := url.Values{"alt": {"media"}}
	if r.generation != "" {
		q.Set("generation", r.generation)
	}
	h := http.Header{"Accept-Encoding": {"identity"}}
	if r.off > 0 {
		h.Set("Range", fmt.Sprintf("bytes=%d-", r.off))
	}
	resp, err := r.s.send(r.ctx, request{method: http.MethodGet, url: r.s.objectURL(r.key, q), header: h})
	if err != nil {
		return err
	}
	switch {
	case r.off == 0 && resp.StatusCode == http.StatusOK:
		r.generation = resp.Header.Get("X-Goog-Generation")
		r.size = resp.ContentLength
		r.wantCRC = hashOf(resp.Header, "crc32c")
	case r.off > 0 && resp.StatusCode == http.StatusPartialContent:
	default:
		drain(resp)
		return fmt.Errorf("unexpected answer %d to a read from byte %d", resp.StatusCode, r.off)
	}
	r.body = resp.Body
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("download %s from %s: read after close", r.key, r.s)
	}
	for {
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, r.fail(err)
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		r.crc = crc32.Update(r.crc, castagnoli, p[:n])
		if err == io.EOF && r.size >= 0 && r.off < r.size {
			err = fmt.Errorf("the transfer ended at byte %d of %d: %w", r.off, r.size, io.ErrUnexpectedEOF)
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF:
			if r.wantCRC != "" && encodeCRC(r.crc) != r.wantCRC {
				return n, r.fail(fmt.Errorf("the %d bytes read have CRC32C %s, the object %s", r.off, encodeCRC(r.crc), r.wantCRC))
			}
			return n, io.EOF
		}
		r.body.Close()
		r.body = nil
		if r.generation == "" || !retryable(err) || r.failures >= r.s.cfg.MaxRetries || r.ctx.Err() != nil {
			return n, r.fail(err)
		}
		r.failures++
		d := backoff(r.failures)
		r.s.log.Warn("resuming GCS download", "store", r.s.name, "key", r.key, "offset", r.off, "attempt", r.failures+1,
			"delay_seconds", d.Round(time.Millisecond).Seconds(), "error", err.Error())
		ourstorage.FailedAttempt(r.ctx, err)
		if err := sleep(r.ctx, d); err != nil {
			return n, r.fail(err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *reader) fail(err error) error {
	return fmt.Errorf("download %s from %s: %w", r.key, r.s, explain(err))
}

func (r *reader) Close() error {
	r.closed = true
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// hashOf is the value of one hash (crc32c, md5) of the X-Goog-Hash headers.
func hashOf(h http.Header, name string) string {
	for _, v := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(v, ",") {
			if k, val, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == name {
				if b, err := base64.StdEncoding.DecodeString(val); err != nil || len(b) != 4 {
					return "" // not a CRC32C: not checked
				}
				return val
			}
		}
	}
	return ""
}
