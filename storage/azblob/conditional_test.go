package azblob

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
)

// loseFirstAnswer sends the first conditional Put Blob to the server and then reports a
// broken connection instead of its answer, as a network that dropped the response would.
type loseFirstAnswer struct {
	next http.RoundTripper
	lost atomic.Bool
}

func (l *loseFirstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPut && (r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Match") != "") && l.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}

// TestPutIfAnswerLost: a conditional write whose first attempt landed but whose answer was
// lost is retried by the SDK and refused (the blob exists, its ETag changed); PutIf
// recognises its own write by its ID and reports success with the blob's tag, so the
// winner of a lease is never told it lost.
func TestPutIfAnswerLost(t *testing.T) {
	for _, ifTag := range []bool{false, true} {
		c := testenv.NewContainer(t)
		plain := newTestStore(t, testConfig(c))
		cond := ""
		if ifTag {
			var err error
			if cond, err = plain.PutIf(ctxFor(t), "lease", []byte("old"), ""); err != nil {
				t.Fatal(err)
			}
		}
		lossy := &loseFirstAnswer{}
		testWrap = func(next http.RoundTripper) http.RoundTripper { lossy.next = next; return lossy }
		s := newTestStore(t, testConfig(c))
		testWrap = nil
		tag, err := s.PutIf(ctxFor(t), "lease", []byte("mine"), cond)
		if err != nil || !lossy.lost.Load() {
			t.Fatalf("PutIf (if tag %v) after a lost answer: %v (answer lost: %v)", ifTag, err, lossy.lost.Load())
		}
		got, err := plain.ReadTagged(ctxFor(t), "lease")
		if err != nil || string(got.Data) != "mine" || got.Tag != tag {
			t.Fatalf("ReadTagged = %q tag %q, %v; want %q tag %q", got.Data, got.Tag, err, "mine", tag)
		}
		// Another writer's content under the same condition is still refused.
		if _, err := plain.PutIf(ctxFor(t), "lease", []byte("theirs"), cond); !errors.Is(err, storage.ErrPrecondition) {
			t.Fatalf("a second writer: %v, want ErrPrecondition", err)
		}
	}
}
