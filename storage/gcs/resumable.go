package gcs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ourstorage "github.com/mongostash/mongostash/storage"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// upload is one object being written: the bytes of the chunk not sent yet (one buffer of
// ChunkSize), and, once the stream outgrew one chunk, the resumable upload session the
// chunks before went to (https://cloud.google.com/storage/docs/performing-resumable-uploads).
//
// A full chunk is sent only once a byte more arrives, so the last chunk is never empty
// and a stream of at most one chunk is stored with one multipart request. The session is
// finalized only by the last chunk, which names the total size and carries the CRC32C of
// the whole object (X-Goog-Hash), which the service checks before it creates the object.
type upload struct {
	s     *Store
	ctx   context.Context
	key   string
	query url.Values // preconditions (ifGenerationMatch) of the upload
	meta  objectMeta

	buf     []byte // the chunk being filled
	sent    int64  // bytes the session holds, all before buf
	crc     uint32 // of every byte written
	session string // the session URI, once started
}

// objectMeta is the object resource an upload sends ahead of the data.
type objectMeta struct {
	Name      string            `json:"name"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Retention *retentionOut     `json:"retention,omitempty"`
	CRC32C    string            `json:"crc32c,omitempty"`
}

type retentionOut struct {
	Mode            string `json:"mode"`
	RetainUntilTime string `json:"retainUntilTime"`
}

func (s *Store) newUpload(ctx context.Context, key string, query url.Values, metadata map[string]string) *upload {
	return &upload{s: s, ctx: ctx, key: key, query: query, buf: make([]byte, 0, s.cfg.ChunkSize),
		meta: objectMeta{Name: key, Metadata: metadata, Retention: s.retention()}}
}

// Write takes p into the chunk, first sending the chunk when it is full.
func (u *upload) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(u.buf) == cap(u.buf) {
			if err := u.sendChunk(false); err != nil {
				return n - len(p), err
			}
		}
		m := copy(u.buf[len(u.buf):cap(u.buf)], p)
		u.crc = crc32.Update(u.crc, castagnoli, p[:m])
		u.buf, p = u.buf[:len(u.buf)+m], p[m:]
	}
	return n, nil
}

// finish stores what was written: with one multipart request when no chunk was sent,
// else by sending the last chunk, which finalizes the session. It returns the object.
func (u *upload) finish() (object, error) {
	if u.session == "" {
		return u.single()
	}
	return u.sendLast()
}

// cancel ends the session, if one was started, so that it can never be finalized. It is
// best effort: a session nobody finalizes expires after a week, and is no object.
func (u *upload) cancel() {
	if u.session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), 30*time.Second)
	defer cancel()
	resp, err := u.s.try(ctx, request{method: http.MethodDelete, url: u.session})
	switch {
	case err == nil:
		drain(resp)
	case statusOf(err) == 499: // "client closed request": the session is cancelled
	default:
		u.s.log.Warn("cannot cancel an unfinished GCS upload; it expires within a week", "store", u.s.name, "key", u.key, "error", err.Error())
	}
	u.session = ""
}

// single stores the whole (short) stream with one multipart request, its CRC32C in the
// metadata for the service to check.
func (u *upload) single() (object, error) {
	meta := u.meta
	meta.CRC32C = encodeCRC(u.crc)
	mj, err := json.Marshal(meta)
	if err != nil {
		return object{}, err
	}
	boundary := newBoundary(u.buf)
	head := "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" + string(mj) +
		"\r\n--" + boundary + "\r\nContent-Type: application/octet-stream\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	resp, err := u.s.send(u.ctx, request{method: http.MethodPost, url: u.s.uploadURL("multipart", u.query),
		header: http.Header{"Content-Type": {"multipart/related; boundary=" + boundary}},
		body:   [][]byte{[]byte(head), u.buf, []byte(tail)}})
	if err != nil {
		return object{}, err
	}
	var o object
	if err := decode(resp, &o); err != nil {
		return object{}, err
	}
	return o, checkStored(o, int64(len(u.buf)))
}

// newBoundary is a random multipart boundary that does not occur in data.
func newBoundary(data []byte) string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		boundary := "mongostash-" + hex.EncodeToString(b[:])
		if !bytes.Contains(data, []byte(boundary)) {
			return boundary
		}
	}
}

// start opens the resumable session with the object's metadata.
func (u *upload) start() error {
	mj, err := json.Marshal(u.meta)
	if err != nil {
		return err
	}
	resp, err := u.s.send(u.ctx, request{method: http.MethodPost, url: u.s.uploadURL("resumable", u.query),
		header: http.Header{"Content-Type": {"application/json; charset=UTF-8"}, "X-Upload-Content-Type": {"application/octet-stream"}},
		body:   [][]byte{mj}})
	if err != nil {
		return fmt.Errorf("start a resumable upload: %w", err)
	}
	drain(resp)
	loc := resp.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("start a resumable upload: the service answered %d without a session URI", resp.StatusCode)
	}
	u.session = loc
	return nil
}

// sendChunk sends the full chunk, which is not the last, to the session.
func (u *upload) sendChunk(last bool) error {
	if u.session == "" {
		if err := u.start(); err != nil {
			return err
		}
	}
	_, err := u.put(last)
	return err
}

// sendLast sends the last chunk with the total size and the object's CRC32C.
func (u *upload) sendLast() (object, error) {
	total := u.sent + int64(len(u.buf))
	o, err := u.put(true)
	if err != nil {
		return object{}, err
	}
	return o, checkStored(o, total)
}

// put sends the bytes of buf to the session until it holds them all (the last chunk: until
// it created the object). A chunk the service took only part of (a 308 whose Range ends
// before the chunk does) goes on from where the service stands; after a failed attempt the
// session is asked where it stands (a status query) before anything is sent again.
func (u *upload) put(last bool) (object, error) {
	total := int64(-1)
	if last {
		total = u.sent + int64(len(u.buf))
	}
	off, failures, stuck := 0, 0, 0 // off: bytes of buf the session holds
	for {
		before := off
		resp, err := u.s.try(u.ctx, u.chunkRequest(off, total))
		if err == nil {
			var o object
			var done bool
			done, o, off, err = u.answer(resp, last)
			switch {
			case err != nil:
				return object{}, err
			case done:
				return o, nil
			case !last && off == len(u.buf):
				u.sent += int64(len(u.buf))
				u.buf = u.buf[:0]
				return object{}, nil
			}
			// The service took part of the chunk (or, of the last one, all but did not
			// create the object): send the rest. One that takes nothing again and again
			// is a failure.
			if off > before {
				stuck = 0
			}
			if stuck++; stuck <= 3 {
				continue
			}
			err = fmt.Errorf("the service keeps %d of the %d bytes sent at byte %d", off, len(u.buf), u.sent)
		}
		if failures++; failures > u.s.cfg.MaxRetries || !retryable(err) || u.ctx.Err() != nil {
			return object{}, err
		}
		stuck = 0
		d := backoff(failures)
		u.s.log.Warn("retrying GCS upload chunk", "store", u.s.name, "key", u.key, "offset", u.sent+int64(off), "attempt", failures+1,
			"delay_seconds", d.Round(time.Millisecond).Seconds(), "error", err.Error())
		ourstorage.FailedAttempt(u.ctx, err)
		if err := sleep(u.ctx, d); err != nil {
			return object{}, err
		}
		resp, err = u.s.send(u.ctx, request{method: http.MethodPut, url: u.session, header: http.Header{"Content-Range": {"bytes */*"}}})
		if err != nil {
			return object{}, fmt.Errorf("ask the upload session where it stands: %w", sessionGone(err))
		}
		var o object
		var done bool
		if done, o, off, err = u.answer(resp, last); err != nil || done {
			return o, err
		}
		if !last && off == len(u.buf) {
			u.sent += int64(len(u.buf))
			u.buf = u.buf[:0]
			return object{}, nil
		}
	}
}

// chunkRequest is the request that sends buf from off, with the total size when known.
func (u *upload) chunkRequest(off int, total int64) request {
	start := u.sent + int64(off)
	end := u.sent + int64(len(u.buf)) - 1
	size := "*"
	if total >= 0 {
		size = strconv.FormatInt(total, 10)
	}
	cr := fmt.Sprintf("bytes %d-%d/%s", start, end, size)
	if start > end { // nothing left to send: only the total, which finalizes
		cr = "bytes */" + size
	}
	h := http.Header{"Content-Range": {cr}}
	if total >= 0 {
		h.Set("X-Goog-Hash", "crc32c="+encodeCRC(u.crc))
	}
	return request{method: http.MethodPut, url: u.session, header: h, body: [][]byte{u.buf[off:]}}
}

// answer reads the session's answer to a chunk or a status query: the object once it is
// created (done), or how many bytes of buf the session holds.
func (u *upload) answer(resp *http.Response, last bool) (done bool, o object, off int, err error) {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
		if err := decode(resp, &o); err != nil {
			return false, object{}, 0, err
		}
		if !last {
			return false, object{}, 0, fmt.Errorf("the service created the object at byte %d, before the stream ended", u.sent+int64(len(u.buf)))
		}
		return true, o, len(u.buf), nil
	case http.StatusPermanentRedirect:
		drain(resp)
		held, err := committed(resp.Header.Get("Range"))
		if err != nil {
			return false, object{}, 0, err
		}
		if held < u.sent || held > u.sent+int64(len(u.buf)) {
			return false, object{}, 0, fmt.Errorf("the upload session holds %d bytes, where %d to %d were sent", held, u.sent, u.sent+int64(len(u.buf)))
		}
		return false, object{}, int(held - u.sent), nil
	}
	drain(resp)
	return false, object{}, 0, fmt.Errorf("unexpected answer %d to an upload chunk", resp.StatusCode)
}

// committed reads the Range header of a 308 answer of a resumable session ("bytes=0-N"):
// the number of bytes the session holds, N+1. No header means none.
func committed(rangeHeader string) (int64, error) {
	if rangeHeader == "" {
		return 0, nil
	}
	spec, ok := strings.CutPrefix(rangeHeader, "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 || first != "0" {
		return 0, fmt.Errorf("the upload session answered with the range %q", rangeHeader)
	}
	n, err := strconv.ParseInt(last, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("the upload session answered with the range %q", rangeHeader)
	}
	return n + 1, nil
}

// sessionGone says what a status query's 404 or 410 means.
func sessionGone(err error) error {
	if s := statusOf(err); s == http.StatusNotFound || s == http.StatusGone {
		return fmt.Errorf("the upload session is gone (expired or cancelled): %w", err)
	}
	return err
}

// checkStored compares the size of the created object with the bytes written.
func checkStored(o object, n int64) error {
	if int64(o.Size) != n {
		return fmt.Errorf("the service stored %d bytes of the %d sent", o.Size, n)
	}
	return nil
}

// encodeCRC is a CRC32C as the API writes it: base64 of its four big-endian bytes.
func encodeCRC(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
