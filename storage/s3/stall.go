package s3

import (
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// DefaultTimeout is how long a request may go without a byte moving either way before it
// is given up as stalled (and retried, at most maxStallAttempts times in all).
const DefaultTimeout = stall.DefaultTimeout

// maxStallAttempts is how often one request is tried when it stalls: a stalled endpoint
// (a dead load balancer, a half-open NAT) then fails the request after about three times
// the timeout instead of after every retry's worth of them.
const maxStallAttempts = stall.MaxAttempts

// ErrStalled is wrapped by the errors of requests that stopped moving: nothing was sent or
// received for the configured timeout. It is the one sentinel of every store's stalls
// (storage/internal/stall), whose connections this store's transport uses too.
var ErrStalled = stall.ErrStalled

// idleDialer wraps dial so that every connection fails when it goes silent for idle
// (storage/internal/stall: only silence is cut, never a slow transfer that moves).
var idleDialer = stall.Dialer
