package gcs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ourstorage "github.com/mongostash/mongostash/storage"
)

// Backoff between two attempts of a request: exponential from minBackoff, capped.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 20 * time.Second
)

// request is one call of the JSON API, which send may make several times: its body is
// held whole (a metadata document, one upload chunk, the parts of a multipart upload) so
// that every attempt sends it again.
type request struct {
	method string
	url    string
	header http.Header
	body   [][]byte // sent one after the other
}

// reader is a fresh reader of the body.
func (r request) reader() io.Reader {
	rs := make([]io.Reader, len(r.body))
	for i, b := range r.body {
		rs[i] = bytes.NewReader(b)
	}
	return io.MultiReader(rs...)
}

func (r request) size() int64 {
	var n int64
	for _, b := range r.body {
		n += int64(len(b))
	}
	return n
}

// send makes r until the service answers with a status below 400 (a 308 of a resumable
// upload included), retrying what retryable allows up to MaxRetries times with backoff.
// An answer of 400 or more is returned as an *apiError, its body read and closed. The
// caller owns the body of the response it gets.
func (s *Store) send(ctx context.Context, r request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := s.try(ctx, r)
		if err == nil {
			return resp, nil
		}
		if attempt > s.cfg.MaxRetries || !retryable(err) || ctx.Err() != nil {
			return nil, err
		}
		d := backoff(attempt)
		s.log.Warn("retrying GCS request", "store", s.name, "attempt", attempt+1,
			"delay_seconds", d.Round(time.Millisecond).Seconds(), "error", err.Error())
		ourstorage.FailedAttempt(ctx, err)
		if serr := sleep(ctx, d); serr != nil {
			return nil, fmt.Errorf("%w (the last attempt: %v)", serr, err)
		}
	}
}

// try makes one attempt of r.
func (s *Store) try(ctx context.Context, r request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if n := r.size(); n > 0 {
		req.Body, req.ContentLength = io.NopCloser(r.reader()), n
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(r.reader()), nil }
	} else if r.method == http.MethodPut || r.method == http.MethodPost {
		req.Body, req.ContentLength = http.NoBody, 0
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		e := parseError(resp)
		resp.Body.Close()
		return nil, e
	}
	return resp, nil
}

// backoff is the wait before attempt+1: exponential, capped at maxBackoff, with "equal
// jitter" so that concurrent requests do not retry in lockstep yet never retry at once.
func backoff(attempt int) time.Duration {
	d := minBackoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// decode reads the JSON body of resp into v and closes it.
func decode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("read the service's answer: %w", err)
	}
	return nil
}

// drain reads what is left of a body (so that its connection is reused) and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// bucketURL is the URL of path (from "/o") under the bucket in the JSON API.
func (s *Store) bucketURL(path string, q url.Values) string {
	u := s.api + "/b/" + escape(s.cfg.Bucket) + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// objectURL is the URL of the object key in the JSON API.
func (s *Store) objectURL(key string, q url.Values) string {
	return s.bucketURL("/o/"+escape(key), q)
}

// uploadURL is the URL that starts an upload of the given type.
func (s *Store) uploadURL(uploadType string, q url.Values) string {
	v := url.Values{"uploadType": {uploadType}}
	for k, vs := range q {
		v[k] = vs
	}
	return s.upload + "/b/" + escape(s.cfg.Bucket) + "/o?" + v.Encode()
}

// escape percent-encodes every byte of a path segment but the unreserved ones, so that
// a key's "/", "+", "?" or "#" reach the service as part of the name.
func escape(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// generationQuery is the query that pins a request to generation g ("" for the live one).
func generationQuery(g string) url.Values {
	if g == "" {
		return nil
	}
	return url.Values{"generation": {g}}
}

// object is the part of the JSON API's object resource the store reads.
type object struct {
	Name                    string            `json:"name"`
	Size                    jsonInt           `json:"size"`
	Generation              jsonInt           `json:"generation"`
	Updated                 jsonTime          `json:"updated"`
	TimeDeleted             jsonTime          `json:"timeDeleted"`
	EventBasedHold          bool              `json:"eventBasedHold"`
	TemporaryHold           bool              `json:"temporaryHold"`
	RetentionExpirationTime jsonTime          `json:"retentionExpirationTime"`
	Retention               *retentionJSON    `json:"retention"`
	Metadata                map[string]string `json:"metadata"`
}

type retentionJSON struct {
	Mode            string   `json:"mode"`
	RetainUntilTime jsonTime `json:"retainUntilTime"`
}

// jsonInt is an int64 the API sends as a string ("123"), read from a number too.
type jsonInt int64

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	*n = jsonInt(v)
	return err
}

// jsonTime is an RFC 3339 time; empty or absent is the zero time.
type jsonTime struct{ time.Time }

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		t.Time = time.Time{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	t.Time = v
	return err
}
