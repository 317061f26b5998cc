package azblob

import (
	"net/http"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestPutIfAnswerLost: a conditional Put Blob whose answer was lost, retried by the SDK
// and refused (the ETag changed), is recognised as PutIf's own write.
func TestPutIfAnswerLost(t *testing.T) {
	storagetest.TestPutIfAnswerLost(t, storagetest.AnswerLost{
		Fresh: func(t *testing.T) func(func(http.RoundTripper) http.RoundTripper) storage.ConditionalWriter {
			c := testenv.NewContainer(t)
			return func(wrap func(http.RoundTripper) http.RoundTripper) storage.ConditionalWriter {
				testWrap = wrap
				defer func() { testWrap = nil }()
				return newTestStore(t, testConfig(c))
			}
		},
		Conditional: func(r *http.Request) bool {
			return r.Method == http.MethodPut && (r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Match") != "")
		},
	})
}
