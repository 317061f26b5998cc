package stall

import (
	"net"
	"sync"
	"sync/atomic"
)

// SilentServer accepts connections and never answers, like a dead load balancer or a
// half-open NAT; it counts the connections, which are the attempts made. For the stores'
// tests of stalled endpoints.
type SilentServer struct {
	l        net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

// NewSilentServer listens on a free loopback port.
func NewSilentServer() (*SilentServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SilentServer{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c) // held open, never read, never written
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// Addr is the server's host:port.
func (s *SilentServer) Addr() string { return s.l.Addr().String() }

// Accepted is how many connections it accepted so far.
func (s *SilentServer) Accepted() int64 { return s.accepted.Load() }

// Close stops listening and closes every connection.
func (s *SilentServer) Close() {
	s.l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}
