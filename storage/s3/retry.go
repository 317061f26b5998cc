package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/mongostash/mongostash/storage"
)

// maxBackoff caps the wait between two attempts.
const maxBackoff = 20 * time.Second

// newRetryer is the SDK's standard retryer (throttling, 5xx, connection errors) with our
// backoff, without the client-side retry quota — a backup job would rather wait than fail
// because a flaky link used up a token bucket — and with truncated responses retried too.
func (s *Store) newRetryer() aws.Retryer {
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = s.cfg.MaxRetries + 1
		o.MaxBackoff = maxBackoff
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			return s.backoff(attempt), nil
		})
		o.RateLimiter = ratelimit.None
		o.Retryables = append(o.Retryables, retry.IsErrorRetryableFunc(retryableTransport))
	})
	return &countingRetryer{RetryerV2: std, s: s}
}

// backoff returns the wait before retry number attempt (from 1): exponential, capped at
// maxBackoff, with "equal jitter" so that concurrent parts do not retry in lockstep yet
// never retry at once.
func (s *Store) backoff(attempt int) time.Duration {
	d := s.backoffBase
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// countingRetryer counts and logs the retries the SDK decides to make.
type countingRetryer struct {
	aws.RetryerV2
	s *Store
}

func (r *countingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if errors.Is(err, ErrStalled) && attempt >= maxStallAttempts {
		// The SDK returns this error instead of err: it must still say what happened.
		return 0, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
	}
	d, derr := r.RetryerV2.RetryDelay(attempt, err)
	if derr == nil {
		r.s.retries.Add(1)
		text := r.s.redact(err).Error()
		if host, reason, ok := cannotConnect(err); ok { // not the SDK's "StatusCode: 0, RequestID: , …"
			text = "cannot reach " + host + ": " + reason
		}
		r.s.log.Warn("retrying S3 request", "store", r.s.name, "attempt", attempt+1, "delay_seconds", d.Round(time.Millisecond).Seconds(), "error", text)
	}
	return d, derr
}

// retryableTransport retries what the SDK's own checks leave undecided: responses cut off
// mid-way (the connection closed before the full answer arrived) and broken pipes.
func retryableTransport(err error) aws.Ternary {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return aws.FalseTernary
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// httpStatus returns the HTTP status of a failed request, or 0 when no answer came.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.HTTPStatusCode()
	}
	return 0
}

// apiCode returns the S3 error code ("NoSuchKey", "SlowDown", …), or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// gotAnswer reports whether err is the store's answer (so the request was seen and refused)
// rather than a transport failure after which the request may or may not have taken effect.
func gotAnswer(err error) bool { return httpStatus(err) != 0 }

// retryCounter counts the retries of the requests made with a context from withRetryCounter:
// a request that was retried may have taken effect more than once (e.g. two multipart
// uploads created), which the caller then cleans up.
type retryCounter struct{ n atomic.Int32 }

type retryCounterKey struct{}

func withRetryCounter(ctx context.Context) (context.Context, *retryCounter) {
	c := &retryCounter{}
	return context.WithValue(ctx, retryCounterKey{}, c), c
}

// GetRetryToken is called once an attempt failed and is to be retried: the caller hears of
// it (storage.FailedAttempt) before the retries run out.
func (r *countingRetryer) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	if c, ok := ctx.Value(retryCounterKey{}).(*retryCounter); ok {
		c.n.Add(1)
	}
	storage.FailedAttempt(ctx, r.s.redact(opErr))
	return r.RetryerV2.GetRetryToken(ctx, opErr)
}
