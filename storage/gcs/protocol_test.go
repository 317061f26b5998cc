package gcs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mongostash/mongostash/storage/internal/stall"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestCommitted reads the Range header of a resumable session's 308 answer.
func TestCommitted(t *testing.T) {
	for header, want := range map[string]int64{"": 0, "bytes=0-0": 1, "bytes=0-262143": 262144, "bytes=0-1048575": 1 << 20} {
		if got, err := committed(header); err != nil || got != want {
			t.Errorf("committed(%q) = %d, %v; want %d", header, got, err, want)
		}
	}
	for _, header := range []string{"bytes=5-9", "bytes 0-9", "bytes=0-", "bytes=0-x", "0-9", "bytes=0--1"} {
		if got, err := committed(header); err == nil {
			t.Errorf("committed(%q) = %d, want an error", header, got)
		}
	}
}

// TestParseErrorBody keeps the service's message and reasons, and the first line of a
// body that is not the API's JSON.
func TestParseErrorBody(t *testing.T) {
	e := parseErrorBody(403, []byte(answerRetained))
	if e.Code != 403 || reason(e) != "retentionPolicyNotMet" || !strings.HasPrefix(e.Message, "Object 'bkt/retained' is subject") || !heldRefusal(e) {
		t.Errorf("retained: %+v", e)
	}
	e = parseErrorBody(403, []byte(answerForbidden))
	if heldRefusal(e) || !strings.Contains(e.Error(), "the service answered 403 forbidden: backup@proj") {
		t.Errorf("forbidden: %+v (%v)", e, e)
	}
	e = parseErrorBody(404, []byte(`{"error":{"errors":[{"reason":"notFound","message":"No such object: b/k"}]}}`))
	if e.Message != "No such object: b/k" || reason(e) != "notFound" {
		t.Errorf("message only in errors[]: %+v", e)
	}
	e = parseErrorBody(502, []byte("<html><title>502 Bad Gateway</title>\n<body>…</body></html>"))
	if e.Message != "<html><title>502 Bad Gateway</title>" || e.Error() != "the service answered 502: <html><title>502 Bad Gateway</title>" {
		t.Errorf("not JSON: %+v", e)
	}
	if e := parseErrorBody(500, nil); e.Error() != "the service answered 500" {
		t.Errorf("empty: %v", e)
	}
}

// TestRetryable: throttling, timeouts, server errors, broken connections and stalls are
// tried again; refusals, cancellations and a request the stall limit gave up are not.
func TestRetryable(t *testing.T) {
	urlErr := func(err error) error { return fmt.Errorf("Put \"https://x\": %w", err) }
	for err, want := range map[error]bool{
		&apiError{Code: 408}:                                   true,
		&apiError{Code: 429}:                                   true,
		&apiError{Code: 500}:                                   true,
		&apiError{Code: 503}:                                   true,
		&apiError{Code: 400}:                                   false,
		&apiError{Code: 401}:                                   false,
		&apiError{Code: 403}:                                   false,
		&apiError{Code: 404}:                                   false,
		&apiError{Code: 412}:                                   false,
		urlErr(io.ErrUnexpectedEOF):                            true,
		urlErr(syscall.ECONNRESET):                             true,
		urlErr(syscall.ECONNREFUSED):                           true,
		urlErr(stall.ErrStalled):                               true,
		&stall.GaveUpError{Attempts: 3, Err: stall.ErrStalled}: false,
		urlErr(context.Canceled):                               false,
		urlErr(context.DeadlineExceeded):                       false,
		&oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}}: false,
		&oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}}: true,
		errors.New("x509: certificate signed by unknown authority"):      false,
	} {
		if got := retryable(err); got != want {
			t.Errorf("retryable(%v) = %v, want %v", err, got, want)
		}
	}
}

// TestEncodeCRC: the API's form of a CRC32C is base64 of its big-endian bytes (the check
// value of "123456789" is 0xE3069283).
func TestEncodeCRC(t *testing.T) {
	if got := encodeCRC(crcOf([]byte("123456789"))); got != "4waSgw==" {
		t.Errorf("encodeCRC = %s, want 4waSgw==", got)
	}
	if got := hashOf(http.Header{"X-Goog-Hash": {"crc32c=4waSgw==,md5=XUFAKrxLKna5cZ2REBfFkg=="}}, "crc32c"); got != "4waSgw==" {
		t.Errorf("hashOf = %q", got)
	}
}

// session is a resumable upload server that keeps the rules of the protocol: a chunk must
// start where the session stands, only whole 256 KiB units of a chunk that is not the last
// are kept, a status query (bytes */*) says where it stands, and the object is created
// when the total arrives, after its CRC32C (X-Goog-Hash) was checked.
type session struct {
	mu       sync.Mutex
	data     []byte
	done     bool
	deleted  bool
	log      []string
	misbehav func(n int, w http.ResponseWriter, body []byte) bool // n: the chunk request's number; true: answered
	chunks   int
}

func (ss *session) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Query().Get("uploadType") == "resumable":
			ss.log = append(ss.log, "start")
			w.Header().Set("Location", "http://"+r.Host+"/session/1")
			w.WriteHeader(200)
			return
		case r.Method == http.MethodDelete && r.URL.Path == "/session/1":
			ss.log = append(ss.log, "delete")
			ss.deleted = true
			w.WriteHeader(499)
			return
		case r.Method != http.MethodPut || r.URL.Path != "/session/1":
			http.Error(w, `{"error":{"code":400,"message":"unexpected request"}}`, 400)
			return
		}
		cr := r.Header.Get("Content-Range")
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if cr == "bytes */*" {
			ss.log = append(ss.log, "status")
			ss.answer(w)
			return
		}
		ss.chunks++
		ss.log = append(ss.log, "chunk "+cr)
		if ss.misbehav != nil && ss.misbehav(ss.chunks, w, body) {
			return
		}
		var start, end, total int64 = 0, -1, -1
		spec, size, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "/")
		if spec != "*" {
			a, b, _ := strings.Cut(spec, "-")
			start, _ = strconv.ParseInt(a, 10, 64)
			end, _ = strconv.ParseInt(b, 10, 64)
		} else {
			start = int64(len(ss.data))
		}
		if size != "*" {
			total, _ = strconv.ParseInt(size, 10, 64)
		}
		if start != int64(len(ss.data)) || int64(len(body)) != end-start+1 && spec != "*" {
			t.Errorf("chunk %s of %d bytes where the session holds %d", cr, len(body), len(ss.data))
			http.Error(w, `{"error":{"code":400,"message":"bad range"}}`, 400)
			return
		}
		if total < 0 {
			body = body[:len(body)/MinChunkSize*MinChunkSize]
		}
		ss.data = append(ss.data, body...)
		if total >= 0 && int64(len(ss.data)) == total {
			want := encodeCRC(crc32.Checksum(ss.data, castagnoli))
			if got := hashOf(r.Header, "crc32c"); got != want {
				http.Error(w, fmt.Sprintf(`{"error":{"code":400,"message":"crc32c %s, the data's %s"}}`, got, want), 400)
				return
			}
			ss.done = true
		}
		ss.answer(w)
	})
}

func (ss *session) answer(w http.ResponseWriter) {
	if ss.done {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":"k","size":"%d","generation":"17"}`, len(ss.data))
		return
	}
	if len(ss.data) > 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", len(ss.data)-1))
	}
	w.WriteHeader(http.StatusPermanentRedirect)
}

func sessionStore(t *testing.T, ss *session) *Store {
	srv := httptest.NewServer(ss.handler(t))
	t.Cleanup(srv.Close)
	return newTestStore(t, Config{Bucket: "bkt", EmulatorHost: srv.Listener.Addr().String(), ChunkSize: 2 * MinChunkSize, MaxRetries: 3})
}

// TestResumableResume (a server keeping the protocol's rules, for what fake-gcs-server
// does not do): a 308 that kept only part of a chunk has the rest sent from where the
// session stands; a chunk whose connection broke is followed by a status query and sent
// again from the Range it gives; the last chunk carries the whole object's CRC32C.
func TestResumableResume(t *testing.T) {
	ss := &session{}
	ss.misbehav = func(n int, w http.ResponseWriter, body []byte) bool {
		switch n {
		case 1: // keep one unit of the first chunk's two, as a service that persisted less
			ss.data = append(ss.data, body[:MinChunkSize]...)
			ss.answer(w)
			return true
		case 3: // break the connection once the chunk arrived
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return true
		}
		return false
	}
	s := sessionStore(t, ss)
	data := storagetest.Data(9, 3*2*MinChunkSize+123)
	res, err := s.Put(ctxFor(t), "k", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put: %v\nrequests: %q", err, ss.log)
	}
	if !bytes.Equal(ss.data, data) || res.Size != int64(len(data)) || res.SHA256 != storagetest.SHA256(data) {
		t.Fatalf("stored %d bytes (equal: %v), result %+v; requests %q", len(ss.data), bytes.Equal(ss.data, data), res, ss.log)
	}
	u := MinChunkSize
	want := []string{
		"start",
		fmt.Sprintf("chunk bytes 0-%d/*", 2*u-1),
		fmt.Sprintf("chunk bytes %d-%d/*", u, 2*u-1),   // the rest of the chunk the 308 did not keep
		fmt.Sprintf("chunk bytes %d-%d/*", 2*u, 4*u-1), // its connection breaks
		"status",
		fmt.Sprintf("chunk bytes %d-%d/*", 2*u, 4*u-1),
		fmt.Sprintf("chunk bytes %d-%d/*", 4*u, 6*u-1),
		fmt.Sprintf("chunk bytes %d-%d/%d", 6*u, len(data)-1, len(data)),
	}
	if strings.Join(ss.log, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(ss.log, "\n"), strings.Join(want, "\n"))
	}
}

// TestFailedPutCancelsSession: a producer failing after a chunk was sent ends the Put with
// its error, and the session is deleted, never finalized.
func TestFailedPutCancelsSession(t *testing.T) {
	ss := &session{}
	s := sessionStore(t, ss)
	boom := errors.New("producer failed")
	r := storagetest.FailAfter(storagetest.Data(6, 3*2*MinChunkSize), 2*2*MinChunkSize+100, boom)
	if _, err := s.Put(ctxFor(t), "k", r); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want %v", err, boom)
	}
	if ss.done || !ss.deleted {
		t.Errorf("finalized %v, session deleted %v; requests %q", ss.done, ss.deleted, ss.log)
	}
}

// TestCredentialsFile: the access token a service account key file gets from its token
// endpoint authorizes the store's requests; the key and the token never appear in the
// errors, whether the token endpoint or the store refuses.
func TestCredentialsFile(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	const token = "ya29.test-token-Zq81"
	var refuseToken bool
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, "bad token request", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if refuseToken {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, token)
	}))
	t.Cleanup(tokens.Close)
	var mu sync.Mutex
	var auths []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/storage/v1/b/bkt/o":
			fmt.Fprint(w, `{"items":[{"name":"a","size":"3","generation":"5","updated":"2024-05-06T07:08:09.123Z"}]}`)
		default:
			w.WriteHeader(401)
			fmt.Fprint(w, answerUnauthorized)
		}
	}))
	t.Cleanup(api.Close)
	file := filepath.Join(t.TempDir(), "key.json")
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "proj", "private_key_id": "kid1",
		"private_key": pemKey, "client_email": "backup@proj.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokens.URL})
	if err := os.WriteFile(file, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, Config{Bucket: "bkt", CredentialsFile: file, Endpoint: api.URL + "/storage/v1/", MaxRetries: -1})
	if !strings.Contains(s.String(), api.URL) {
		t.Errorf("store %s does not name its endpoint", s)
	}
	if err := s.CheckBucket(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(ctxFor(t), "")
	if err != nil || len(objs) != 1 || objs[0].Key != "a" || objs[0].Size != 3 {
		t.Fatalf("List = %+v, %v", objs, err)
	}
	err = s.Delete(ctxFor(t), "k")
	if !errors.Is(err, ErrAuthentication) {
		t.Errorf("refused by the store: %v", err)
	}
	mu.Lock()
	for _, a := range auths {
		if a != "Bearer "+token {
			t.Errorf("a request was authorized with %q", a)
		}
	}
	mu.Unlock()
	secrets := []string{token, "PRIVATE KEY", strings.Split(pemKey, "\n")[1]}
	check := func(what string, err error) {
		for _, sec := range secrets {
			if err != nil && strings.Contains(err.Error(), sec) {
				t.Errorf("%s: the error shows a secret: %v", what, err)
			}
		}
	}
	check("refused by the store", err)
	refuseToken = true
	s2 := newTestStore(t, Config{Bucket: "bkt", CredentialsFile: file, Endpoint: api.URL, MaxRetries: -1})
	err = s2.CheckBucket(ctxFor(t))
	if !errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("refused by the token endpoint: %v", err)
	}
	check("refused by the token endpoint", err)
	if _, err := New(context.Background(), Config{Bucket: "bkt", CredentialsFile: filepath.Join(t.TempDir(), "none.json")}); err == nil {
		t.Error("a missing credentials file is no error")
	}
}
