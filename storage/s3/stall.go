package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultTimeout is how long a request may go without a byte moving either way before it
// is given up as stalled (and retried, at most maxStallAttempts times in all).
const DefaultTimeout = 60 * time.Second

// maxStallAttempts is how often one request is tried when it stalls: a stalled endpoint
// (a dead load balancer, a half-open NAT) then fails the request after about three times
// the timeout instead of after every retry's worth of them.
const maxStallAttempts = 3

// writeChunk bounds one write on the connection, so that the idle timer is reset as a slow
// upload makes progress rather than only when a large write completes.
const writeChunk = 16 << 10

// ErrStalled is wrapped by the errors of requests that stopped moving: nothing was sent or
// received for the configured timeout.
var ErrStalled = errors.New("s3: the endpoint stopped answering")

// stallError is the transport error of a connection on which nothing moved for too long.
// It is a net.Error timeout, which the SDK's retryer retries.
type stallError struct {
	idle   time.Duration
	remote string
}

func (e *stallError) Error() string {
	return fmt.Sprintf("%v: nothing sent or received on the connection to %s for %s", ErrStalled, e.remote, e.idle)
}
func (e *stallError) Unwrap() error   { return ErrStalled }
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }

// idleConn fails a connection on which no byte moved, either way, for idle. Every read or
// write that moves bytes pushes both deadlines forward, so a long upload whose response is
// awaited by a blocked read is not cut while its body is still being sent; and bytes that
// leave the kernel's send queue count as moving too (where the platform tells, Linux), so
// a body written into a large socket buffer on a slow link is not cut while it drains.
// Only silence is cut. An idle connection in the pool fails the same way and is discarded
// by the transport.
type idleConn struct {
	net.Conn
	idle time.Duration

	mu        sync.Mutex
	queued    int       // the send queue when last looked at
	drainedAt time.Time // when it was last seen shrinking
}

func (c *idleConn) extend() { _ = c.Conn.SetDeadline(time.Now().Add(c.idle)) }

func (c *idleConn) Read(p []byte) (int, error) {
	for {
		c.extend()
		n, err := c.Conn.Read(p)
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && c.draining() {
			continue // the request is still leaving: not idle
		}
		if n > 0 {
			c.extend()
		}
		return n, c.wrap(err)
	}
}

func (c *idleConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		c.extend()
		n, err := c.Conn.Write(chunk)
		written += n
		p = p[n:]
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && (n > 0 || c.draining()) {
				continue
			}
			return written, c.wrap(err)
		}
		if q, ok := unsentBytes(c.Conn); ok {
			c.mu.Lock()
			c.queued = q
			c.mu.Unlock()
		}
	}
	return written, nil
}

// draining reports whether the send queue shrank since it was last looked at: the peer is
// still acknowledging what was written. The read and the write of a connection time out
// together and both ask; a shrink seen by one moments ago counts for the other.
func (c *idleConn) draining() bool {
	q, ok := unsentBytes(c.Conn)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if q > 0 && q < c.queued {
		c.drainedAt = time.Now()
	}
	c.queued = q
	return q > 0 && time.Since(c.drainedAt) < c.idle/4
}

func (c *idleConn) wrap(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return &stallError{idle: c.idle, remote: c.RemoteAddr().String()}
	}
	return err
}

// idleDialer wraps dial so that every connection fails when it goes silent for idle.
func idleDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), idle time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: conn, idle: idle}, nil
	}
}
