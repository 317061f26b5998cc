package gcs

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
)

// loseFirstAnswer sends the first conditional upload to the server and then reports a
// broken connection instead of its answer, as a network that dropped the response would.
type loseFirstAnswer struct {
	next http.RoundTripper
	lost atomic.Bool
}

func (l *loseFirstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil && r.URL.Query().Get("ifGenerationMatch") != "" && l.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}

// TestPutIfAnswerLost: a conditional write whose first attempt landed but whose answer was
// lost is retried by the library and refused (412: the generation changed); PutIf
// recognises its own write by its ID and reports success with the object's generation.
func TestPutIfAnswerLost(t *testing.T) {
	for _, ifTag := range []bool{false, true} {
		b := testenv.NewGCSBucket(t)
		plain := newTestStore(t, testConfig(b))
		cond := ""
		if ifTag {
			var err error
			if cond, err = plain.PutIf(ctxFor(t), "lease", []byte("old"), ""); err != nil {
				t.Fatal(err)
			}
		}
		lossy := &loseFirstAnswer{}
		testWrap = func(next http.RoundTripper) http.RoundTripper { lossy.next = next; return lossy }
		s := newTestStore(t, testConfig(b))
		testWrap = nil
		tag, err := s.PutIf(ctxFor(t), "lease", []byte("mine"), cond)
		if err != nil || !lossy.lost.Load() {
			t.Fatalf("PutIf (if tag %v) after a lost answer: %v (answer lost: %v)", ifTag, err, lossy.lost.Load())
		}
		got, err := plain.ReadTagged(ctxFor(t), "lease")
		if err != nil || string(got.Data) != "mine" || got.Tag != tag {
			t.Fatalf("ReadTagged = %q tag %q, %v; want %q tag %q", got.Data, got.Tag, err, "mine", tag)
		}
		if _, err := plain.PutIf(ctxFor(t), "lease", []byte("theirs"), cond); !errors.Is(err, storage.ErrPrecondition) {
			t.Fatalf("a second writer: %v, want ErrPrecondition", err)
		}
	}
}
