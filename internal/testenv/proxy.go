package testenv

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// RequestCounter is a reverse proxy in front of an HTTP server (the S3 server) that counts
// the requests passing through it, by method: what benchmarks of the catalog report.
type RequestCounter struct {
	URL      string // point the client here
	total    atomic.Int64
	mu       sync.Mutex
	byMethod map[string]int64
	paths    map[string]int64 // "GET /bucket/key" → requests
}

// CountRequests starts a counting proxy to endpoint, closed when tb ends.
func CountRequests(tb testing.TB, endpoint string) *RequestCounter {
	tb.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	c := &RequestCounter{byMethod: map[string]int64{}, paths: map[string]int64{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.total.Add(1)
		kind := r.Method
		if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
			kind = "LIST"
		}
		c.mu.Lock()
		c.byMethod[kind]++
		c.paths[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Reset starts the counts again.
func (c *RequestCounter) Reset() {
	c.total.Store(0)
	c.mu.Lock()
	c.byMethod, c.paths = map[string]int64{}, map[string]int64{}
	c.mu.Unlock()
}

// Paths is the requests since the last Reset by method and path ("GET /bucket/key").
func (c *RequestCounter) Paths() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.paths))
	for k, v := range c.paths {
		out[k] = v
	}
	return out
}

// Total is the requests since the last Reset.
func (c *RequestCounter) Total() int64 { return c.total.Load() }

// ByMethod is the requests since the last Reset by method ("LIST" for object listings).
func (c *RequestCounter) ByMethod() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.byMethod))
	for k, v := range c.byMethod {
		out[k] = v
	}
	return out
}
