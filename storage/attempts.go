package storage

import "context"

// Failed attempts: a store that retries a request (storage/s3 retries throttling, 5xx
// answers and broken connections, with backoff, up to its limit) reports each failed
// attempt it is about to retry to the function a caller put in the operation's context,
// so that the caller can tell that the store is failing at once — pitr's health — rather
// than only once the store gave up, minutes later.

type attemptsKey struct{}

// WithFailedAttempts returns a context whose store operations report each failed attempt
// that is about to be retried to fn. fn may be called from any goroutine, and must not block.
func WithFailedAttempts(ctx context.Context, fn func(err error)) context.Context {
	return context.WithValue(ctx, attemptsKey{}, fn)
}

// FailedAttempt is called by stores, with the operation's context, when an attempt failed
// and is retried.
func FailedAttempt(ctx context.Context, err error) {
	if fn, ok := ctx.Value(attemptsKey{}).(func(error)); ok && fn != nil {
		fn(err)
	}
}
