// Package stall bounds the silence of the HTTP connections of storage/azblob (through its
// SDK) and storage/gcs (plain net/http) the way storage/s3 bounds its own: a connection on
// which no byte moved either way for the configured idle time fails with an error wrapping
// ErrStalled, a slow transfer that still moves is never cut, and a request that stalls is
// tried at most MaxAttempts times in all, however many retries the store would otherwise
// make.
//
// It must never know about objects, keys or any one SDK: it wraps net.Conn and
// http.RoundTripper only.
package stall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// DefaultTimeout is the silence after which a connection is given up, as storage/s3's.
const DefaultTimeout = 60 * time.Second

// MaxAttempts is how often one request is tried when it stalls: a stalled endpoint (a dead
// load balancer, a half-open NAT) then fails after about three times the timeout.
const MaxAttempts = 3

// writeChunk bounds one write on the connection, so that the idle timer is reset as a slow
// upload makes progress rather than only when a large write completes.
const writeChunk = 16 << 10

// ErrStalled is wrapped by the errors of requests that stopped moving.
var ErrStalled = errors.New("the endpoint stopped answering")

// connError is the transport error of a connection on which nothing moved for too long.
// It is a net.Error timeout, which the SDKs' retry policies retry.
type connError struct {
	idle   time.Duration
	remote string
}

func (e *connError) Error() string {
	return fmt.Sprintf("%v: nothing sent or received on the connection to %s for %s", ErrStalled, e.remote, e.idle)
}
func (e *connError) Unwrap() error   { return ErrStalled }
func (e *connError) Timeout() bool   { return true }
func (e *connError) Temporary() bool { return true }

// idleConn fails a connection on which no byte moved, either way, for idle. Every read or
// write that moves bytes pushes both deadlines forward, and bytes leaving the kernel's send
// queue (where the platform tells) count as moving too, so only silence is cut.
type idleConn struct {
	net.Conn
	idle time.Duration

	mu        sync.Mutex
	queued    int
	drainedAt time.Time
}

func (c *idleConn) extend() { _ = c.Conn.SetDeadline(time.Now().Add(c.idle)) }

func (c *idleConn) Read(p []byte) (int, error) {
	for {
		c.extend()
		n, err := c.Conn.Read(p)
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && c.draining() {
			continue
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

// draining reports whether the send queue shrank recently: the peer still acknowledges.
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
		return &connError{idle: c.idle, remote: c.RemoteAddr().String()}
	}
	return err
}

// Dialer wraps dial so that every connection fails when it goes silent for idle.
func Dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), idle time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: conn, idle: idle}, nil
	}
}

// NewTransport returns an HTTP transport for one store: the default transport's settings,
// conns idle connections per host kept, and, with idle > 0, connections that fail after
// idle of silence (also while dialling).
func NewTransport(idle time.Duration, conns int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	tr.ForceAttemptHTTP2 = true
	if idle > 0 {
		d := &net.Dialer{Timeout: idle, KeepAlive: 30 * time.Second}
		tr.DialContext = Dialer(d.DialContext, idle)
		tr.TLSHandshakeTimeout = idle
	}
	return tr
}
