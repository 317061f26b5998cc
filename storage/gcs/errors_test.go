package gcs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestStalledEndpointFails: every operation against an endpoint that never answers fails
// with ErrStalled after three attempts, naming the endpoint and the operation.
func TestStalledEndpointFails(t *testing.T) {
	storagetest.TestStalledEndpoint(t, storagetest.Stalled{
		Open: func(t *testing.T, addr string) storage.Store {
			return newTestStore(t, Config{Bucket: "stalled", EmulatorHost: addr, Timeout: 200 * time.Millisecond})
		},
		CheckName: "check bucket",
		Check:     func(ctx context.Context, s storage.Store) error { return s.(*Store).CheckBucket(ctx) },
	})
}

// TestMissingBucket: fake-gcs-server answers for a bucket that does not exist as GCS does;
// the error says so and what to do.
func TestMissingBucket(t *testing.T) {
	b := testenv.NewGCSBucket(t)
	s := newTestStore(t, Config{Bucket: "no-such-bucket", EmulatorHost: b.Host})
	for name, op := range map[string]func() error{
		"check bucket": func() error { return s.CheckBucket(ctxFor(t)) },
		"list":         func() error { _, err := s.List(ctxFor(t), ""); return err },
		"upload":       func() error { _, err := s.Put(ctxFor(t), "k", strings.NewReader("x")); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := op()
			if !errors.Is(err, ErrNoSuchBucket) {
				t.Fatalf("got %v, want ErrNoSuchBucket", err)
			}
			if !strings.Contains(err.Error(), "create it first") || !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not say what failed and what to do", err)
			}
		})
	}
}

// Recorded answers of the GCS JSON API (its documented error format and messages), for
// what fake-gcs-server cannot show: it checks no credentials, grants every permission and
// enforces no hold or retention.
const (
	answerUnauthorized = `{"error":{"code":401,"message":"Invalid Credentials","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","locationType":"header","location":"Authorization"}]}}`
	answerForbidden    = `{"error":{"code":403,"message":"backup@proj.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist).","errors":[{"message":"backup@proj.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist).","domain":"global","reason":"forbidden"}]}}`
	answerHeld         = `{"error":{"code":403,"message":"Object 'bkt/held' is under active Event-Based hold and cannot be deleted, overwritten or archived until hold is removed.","errors":[{"message":"Object 'bkt/held' is under active Event-Based hold and cannot be deleted, overwritten or archived until hold is removed.","domain":"global","reason":"forbidden"}]}}`
	answerRetained     = `{"error":{"code":403,"message":"Object 'bkt/retained' is subject to bucket's retention policy or object retention and cannot be deleted or overwritten until 2031-01-02T03:04:05.000000-00:00","errors":[{"message":"Object 'bkt/retained' is subject to bucket's retention policy or object retention and cannot be deleted or overwritten until 2031-01-02T03:04:05.000000-00:00","domain":"global","reason":"retentionPolicyNotMet"}]}}`
)

// recorded is a store on a server that gives each request the answer of the pattern its
// path ends with (or, for patterns ending in "/", starts with).
func recorded(t *testing.T, answers map[string]func(w http.ResponseWriter)) *Store {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for path, answer := range answers {
			if strings.HasSuffix(r.URL.Path, path) || strings.HasSuffix(path, "/") && strings.HasPrefix(r.URL.Path, path) {
				w.Header().Set("Content-Type", "application/json")
				answer(w)
				return
			}
		}
		http.Error(w, `{"error":{"code":500,"message":"unexpected request"}}`, 500)
	}))
	t.Cleanup(srv.Close)
	return newTestStore(t, Config{Bucket: "bkt", EmulatorHost: srv.Listener.Addr().String(), MaxRetries: -1})
}

func answer(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(status); _, _ = w.Write([]byte(body)) }
}

// TestServiceErrors (recorded answers): invalid credentials, a missing permission and a
// delete refused for a hold or a retention each come back in the service's words, with the
// sentinel callers map to hints; a refused delete is a storage.ErrLocked of that key only.
func TestServiceErrors(t *testing.T) {
	s := recorded(t, map[string]func(w http.ResponseWriter){
		"/o/unauthorized": answer(401, answerUnauthorized),
		"/o/held":         answer(403, answerHeld),
		"/o/retained":     answer(403, answerRetained),
		"/o/gone":         answer(404, `{"error":{"code":404,"message":"No such object: bkt/gone","errors":[{"reason":"notFound"}]}}`),
		"/upload/":        answer(403, answerForbidden),
	})
	err := s.Delete(ctxFor(t), "unauthorized")
	if !errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "Invalid Credentials") || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") {
		t.Errorf("invalid credentials: %v", err)
	}
	_, err = s.Put(ctxFor(t), "k", strings.NewReader("x"))
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "storage.objects.create") || !strings.Contains(err.Error(), "roles/storage.objectUser") {
		t.Errorf("missing permission: %v", err)
	}
	err = s.Delete(ctxFor(t), "held", "retained", "gone")
	locked, other := storage.SplitDeleteError(err)
	if other != nil || len(locked) != 2 || locked[0].Key != "held" || locked[1].Key != "retained" {
		t.Fatalf("delete of held objects: locked %v, other %v (from %v)", locked, other, err)
	}
	if !strings.Contains(locked[1].Err.Error(), "retentionPolicyNotMet") {
		t.Errorf("the refusal %q is not in the service's words", locked[1].Err)
	}
}
