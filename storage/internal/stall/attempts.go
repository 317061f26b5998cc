package stall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// GaveUpError is the error of a request that stalled MaxAttempts times. It tells the SDKs'
// retry policies not to try again: azcore through its NonRetriable method, others through
// their retry predicate asking IsGaveUp.
type GaveUpError struct {
	Attempts int
	Err      error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", e.Attempts, e.Err)
}
func (e *GaveUpError) Unwrap() error { return e.Err }

// NonRetriable marks the error as final for azcore's retry policy.
func (*GaveUpError) NonRetriable() {}

// IsGaveUp reports whether err is (or wraps) a GaveUpError.
func IsGaveUp(err error) bool {
	var g *GaveUpError
	return errors.As(err, &g)
}

type counterKey struct{}

// WithAttempts returns a context whose requests share one count of stalls: the SDKs retry
// a request with the context of the call, so the transport sees its attempts as one.
// Call it once per operation (one request and its retries, one download's reads). The
// count is of stalls in a row: an answer or a byte received starts it again.
func WithAttempts(ctx context.Context) context.Context {
	return context.WithValue(ctx, counterKey{}, new(atomic.Int32))
}

func reset(ctx context.Context) {
	if n, ok := ctx.Value(counterKey{}).(*atomic.Int32); ok {
		n.Store(0)
	}
}

// limitTransport counts the stalls of each operation's requests and, at MaxAttempts, turns
// the stall into a GaveUpError.
type limitTransport struct{ next http.RoundTripper }

// Limit wraps next so that an operation whose context came from WithAttempts gives up
// after MaxAttempts stalls. Requests without such a context are never given up here (their
// SDK's own retry limit applies).
func Limit(next http.RoundTripper) http.RoundTripper { return limitTransport{next} }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil && errors.Is(err, ErrStalled) {
		if n, ok := req.Context().Value(counterKey{}).(*atomic.Int32); ok {
			if got := int(n.Add(1)); got >= MaxAttempts {
				return nil, &GaveUpError{Attempts: got, Err: err}
			}
		}
	}
	if err == nil {
		reset(req.Context()) // an answer came: the stalls before it are forgotten
	}
	if resp != nil && resp.Body != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, ctx: req.Context()}
	}
	return resp, err
}

// countingBody counts a stall while the body is read as one attempt of its operation too.
type countingBody struct {
	io.ReadCloser
	ctx context.Context
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		reset(b.ctx)
	}
	if err != nil && errors.Is(err, ErrStalled) {
		if c, ok := b.ctx.Value(counterKey{}).(*atomic.Int32); ok {
			if got := int(c.Add(1)); got >= MaxAttempts {
				return n, &GaveUpError{Attempts: got, Err: err}
			}
		}
	}
	return n, err
}
