package storagetest

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/mongostash/mongostash/storage"
)

// AnswerLost is what TestPutIfAnswerLost needs of a store that speaks HTTP.
type AnswerLost struct {
	// Fresh makes an empty container or bucket and returns how to open a store on it,
	// whose requests go through wrap when wrap is not nil.
	Fresh func(t *testing.T) (open func(wrap func(http.RoundTripper) http.RoundTripper) storage.ConditionalWriter)
	// Conditional reports whether a request is a conditional write.
	Conditional func(*http.Request) bool
}

// TestPutIfAnswerLost: a conditional write whose first attempt landed but whose answer
// was lost is retried by the SDK and refused (the object exists, its tag changed); PutIf
// recognises its own write by its ID and reports success with the object's tag, so the
// winner of a lease is never told it lost — absent before, and replacing a known tag.
// Another writer's content under the same condition is still refused.
func TestPutIfAnswerLost(t *testing.T, o AnswerLost) {
	for _, ifTag := range []bool{false, true} {
		open := o.Fresh(t)
		plain := open(nil)
		cond := ""
		if ifTag {
			var err error
			if cond, err = plain.PutIf(ctxFor(t), "lease", []byte("old"), ""); err != nil {
				t.Fatal(err)
			}
		}
		lossy := &loseFirstAnswer{conditional: o.Conditional}
		s := open(func(next http.RoundTripper) http.RoundTripper { lossy.next = next; return lossy })
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

// loseFirstAnswer sends the first conditional write to the server and then reports a
// broken connection instead of its answer, as a network that dropped the response would.
type loseFirstAnswer struct {
	next        http.RoundTripper
	conditional func(*http.Request) bool
	lost        atomic.Bool
}

func (l *loseFirstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil && l.conditional(r) && l.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}
