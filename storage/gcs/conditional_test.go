package gcs

import (
	"net/http"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestPutIfAnswerLost: a conditional upload whose answer was lost, retried by the library
// and refused (412: the generation changed), is recognised as PutIf's own write.
func TestPutIfAnswerLost(t *testing.T) {
	storagetest.TestPutIfAnswerLost(t, storagetest.AnswerLost{
		Fresh: func(t *testing.T) func(func(http.RoundTripper) http.RoundTripper) storage.ConditionalWriter {
			b := testenv.NewGCSBucket(t)
			return func(wrap func(http.RoundTripper) http.RoundTripper) storage.ConditionalWriter {
				testWrap = wrap
				defer func() { testWrap = nil }()
				return newTestStore(t, testConfig(b))
			}
		},
		Conditional: func(r *http.Request) bool { return r.URL.Query().Get("ifGenerationMatch") != "" },
	})
}
