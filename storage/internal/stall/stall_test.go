package stall

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSilenceFailsThreeTimes: a server that accepts connections and never answers fails a
// request with ErrStalled; with WithAttempts, the third stall in a row is a GaveUpError,
// which the SDKs do not retry.
func TestSilenceFailsThreeTimes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held = append(held, c)
		}
	}()
	client := &http.Client{Transport: Limit(NewTransport(150*time.Millisecond, 2))}
	ctx := WithAttempts(context.Background())
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+l.Addr().String()+"/", nil)
		_, err := client.Do(req)
		if !errors.Is(err, ErrStalled) {
			t.Fatalf("attempt %d: %v, want ErrStalled", attempt, err)
		}
		if gaveUp := IsGaveUp(err); gaveUp != (attempt == MaxAttempts) {
			t.Fatalf("attempt %d: gave up %v: %v", attempt, gaveUp, err)
		}
		if !strings.Contains(err.Error(), l.Addr().String()) {
			t.Errorf("error %q does not name the endpoint", err)
		}
	}
	if n := accepted.Load(); n != MaxAttempts {
		t.Errorf("%d connections, want %d", n, MaxAttempts)
	}
}

// TestSlowBodyIsNotCut: a response that trickles a byte at a time, each within the idle
// time, is read whole although it takes several times the idle time.
func TestSlowBodyIsNotCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 10 {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: Limit(NewTransport(150*time.Millisecond, 2))}
	req, _ := http.NewRequestWithContext(WithAttempts(context.Background()), http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "xxxxxxxxxx" {
		t.Fatalf("read %q: %v", b, err)
	}
}
