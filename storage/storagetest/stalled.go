package storagetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Stalled is what TestStalledEndpoint needs of a store that speaks HTTP.
type Stalled struct {
	// Open returns a store whose endpoint is host:port addr, with a short timeout.
	Open func(t *testing.T, addr string) storage.Store
	// CheckName and Check are the store's own check of its bucket or container, by the
	// name its errors give it.
	CheckName string
	Check     func(ctx context.Context, s storage.Store) error
	// Attempts are the connections an operation may open where it is not
	// stall.MaxAttempts, by the operation's name.
	Attempts map[string]int64
}

// TestStalledEndpoint: every operation against an endpoint that accepts connections and
// never answers (a dead load balancer, a half-open NAT) fails with stall.ErrStalled after
// a bounded number of attempts — not the long retry budget of a flaky link —, with a
// message naming the endpoint and the operation.
func TestStalledEndpoint(t *testing.T, o Stalled) {
	srv, err := stall.NewSilentServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	s := o.Open(t, srv.Addr())
	ops := map[string]func(ctx context.Context) error{
		o.CheckName: func(ctx context.Context) error { return o.Check(ctx, s) },
		"list":      func(ctx context.Context) error { _, err := s.List(ctx, "p/"); return err },
		"download":  func(ctx context.Context) error { _, err := s.Get(ctx, "k"); return err },
		"upload":    func(ctx context.Context) error { _, err := s.Put(ctx, "k", strings.NewReader("data")); return err },
		"delete":    func(ctx context.Context) error { return s.Delete(ctx, "k") },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			before := srv.Accepted()
			err := op(ctxFor(t))
			if !errors.Is(err, stall.ErrStalled) {
				t.Fatalf("got %v, want ErrStalled", err)
			}
			for _, want := range []string{name, srv.Addr(), "stopped answering", "gave up after 3 attempts"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			want, ok := o.Attempts[name]
			if !ok {
				want = stall.MaxAttempts
			}
			if n := srv.Accepted() - before; n != want {
				t.Errorf("%d attempts, want %d", n, want)
			}
		})
	}
}
