package gcs

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// requestLog records the method and the upload-related query of each request a store
// sends.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
	next http.RoundTripper
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	desc := r.Method
	if t := r.URL.Query().Get("uploadType"); t != "" {
		desc += " uploadType=" + t
	}
	if cr := r.Header.Get("Content-Range"); cr != "" {
		desc = "chunk " + cr // sent to the session URL (the library POSTs them)
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, desc)
	l.mu.Unlock()
	return l.next.RoundTrip(r)
}

func (l *requestLog) uploads() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if strings.Contains(r, "uploadType") || strings.HasPrefix(r, "chunk") {
			out = append(out, r)
		}
	}
	return out
}

func watchedStore(t *testing.T, b *testenv.GCSBucket) (*Store, *requestLog) {
	t.Helper()
	log := &requestLog{}
	testWrap = func(next http.RoundTripper) http.RoundTripper { log.next = next; return log }
	defer func() { testWrap = nil }()
	return newTestStore(t, testConfig(b)), log
}

// TestUploadShapes checks which requests a stream becomes: one multipart request when it is
// shorter than a chunk, else a resumable session with one request per chunk, the last one
// naming the total size (the finalization).
func TestUploadShapes(t *testing.T) {
	const chunk = 4 * MinChunkSize
	for _, tc := range []struct {
		name string
		size int
		want []string
	}{
		{"shorter than a chunk", chunk - 1, []string{"POST uploadType=multipart"}},
		{"three chunks and a bit", 3*chunk + 10, []string{
			"POST uploadType=resumable",
			fmt.Sprintf("chunk bytes 0-%d/*", chunk-1),
			fmt.Sprintf("chunk bytes %d-%d/*", chunk, 2*chunk-1),
			fmt.Sprintf("chunk bytes %d-%d/*", 2*chunk, 3*chunk-1),
			fmt.Sprintf("chunk bytes %d-%d/%d", 3*chunk, 3*chunk+9, 3*chunk+10),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, log := watchedStore(t, testenv.NewGCSBucket(t))
			data := storagetest.Data(5, tc.size)
			storagetest.MustPut(t, s, "k", data)
			if got := storagetest.MustGet(t, s, "k"); !bytes.Equal(got, data) {
				t.Fatal("content differs")
			}
			if got := log.uploads(); !slices.Equal(got, tc.want) {
				t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestFailedUploadNeverFinalizes: a producer that fails after two chunks were sent ends the
// Put with its error, and no request ever named the total size: the session was not
// finalized, and the emulator holds no object.
func TestFailedUploadNeverFinalizes(t *testing.T) {
	b := testenv.NewGCSBucket(t)
	s, log := watchedStore(t, b)
	const chunk = 4 * MinChunkSize
	boom := errors.New("producer failed")
	r := storagetest.FailAfter(storagetest.Data(6, 3*chunk), 2*chunk+100, boom)
	if _, err := s.Put(ctxFor(t), "k", r); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want %v", err, boom)
	}
	for _, req := range log.uploads() {
		if strings.HasPrefix(req, "chunk") && !strings.HasSuffix(req, "/*") {
			t.Errorf("a request finalized the upload: %s", req)
		}
	}
	if n := len(log.uploads()); n < 2 {
		t.Errorf("only %d upload requests (%q): the test did not reach a resumable upload", n, log.uploads())
	}
	if _, err := b.Client.Object(ctxFor(t), b.Name, "k"); !errors.Is(err, testenv.ErrGCSNotFound) {
		t.Fatalf("object after a failed Put: %v", err)
	}
}
