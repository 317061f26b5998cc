// Package gcs implements storage.Store on a Google Cloud Storage bucket (or an emulator
// such as fake-gcs-server) with the service's JSON API over net/http
// (https://storage.googleapis.com/storage/v1/…, uploads under /upload/storage/v1/…), and
// OAuth2 access tokens from golang.org/x/oauth2/google. It uses no Google client library:
// those bring gRPC, xDS and OpenTelemetry, which made the binary half again as large and
// every command's resident memory 16 MiB larger.
//
// Uploads stream a reader of unknown size with bounded memory: a stream of at most one
// chunk is stored with one multipart request; anything longer becomes a resumable upload
// whose chunks (ChunkSize, one buffer) are sent as they fill and which is finalized with
// the last one, after the whole stream was read, with the CRC32C of the whole object
// (X-Goog-Hash), which the service checks. A failed or cancelled upload is never
// finalized, and its session is cancelled: no object appears (an unfinished resumable
// session is not an object, cannot be listed and expires after a week, so there is
// nothing for prune to clean up). A chunk whose attempt failed is sent again from where the
// session says it stands (a status query), as is the rest of a chunk the service kept
// only part of.
//
// Every request is retried up to MaxRetries times, with exponential backoff from 200 ms
// to 20 s, after throttling (429), a timeout (408), a server error (5xx), a broken
// connection or a stall. Downloads resume a broken transfer with a ranged read of the same
// generation and check a whole read against the object's CRC32C.
//
// Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, workload
// identity on GKE, the metadata server, gcloud's), or a credentials file given in Config.
// An emulator (EmulatorHost, STORAGE_EMULATOR_HOST's value) needs none. Every connection
// fails after Timeout of silence (storage/internal/stall); a stalled request is tried at
// most three times.
//
// The package must never put credentials into errors or logs: it only ever holds the
// path of a credentials file, never prints a token, and Config prints no secret.
package gcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Limits and defaults.
const (
	DefaultChunkSize  = 16 << 20
	MinChunkSize      = 256 << 10 // the resumable upload granularity
	MaxObjectSize     = 5 << 40   // GCS's largest object
	DefaultMaxRetries = 10
	DefaultTimeout    = stall.DefaultTimeout
)

// Errors CheckBucket wraps, for callers that map them to exit codes or hints.
var (
	ErrNoSuchBucket   = errors.New("gcs: bucket does not exist")
	ErrAccessDenied   = errors.New("gcs: access denied")
	ErrAuthentication = errors.New("gcs: authentication failed")
	// ErrStalled is wrapped by the errors of requests that stopped moving.
	ErrStalled = stall.ErrStalled
)

// Config says which bucket to use and how to reach it.
type Config struct {
	Bucket string
	// CredentialsFile is a service account key or external account (workload identity
	// federation) JSON file; empty uses Application Default Credentials.
	CredentialsFile string
	// EmulatorHost is host:port (or a URL) of a GCS emulator, as STORAGE_EMULATOR_HOST
	// gives it: requests go there, unauthenticated.
	EmulatorHost string
	// Endpoint overrides the JSON API endpoint (a private service connect endpoint), as
	// https://host or https://host/storage/v1/; uploads go to the same host.
	Endpoint string
	// ChunkSize is the resumable upload chunk (default 16 MiB): the memory an upload
	// holds, and the largest stream stored with one request.
	ChunkSize int
	// MaxRetries is how often one request is retried (default 10; negative for never).
	MaxRetries int
	// Timeout is how long a connection may stay silent (default 60s; negative: never).
	Timeout time.Duration
	// RetentionMode, when set (RetentionUnlocked or RetentionLocked), gives every object
	// Put writes an object retention until RetentionPeriod after it is written. The
	// bucket must have object retention enabled.
	RetentionMode   string
	RetentionPeriod time.Duration
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// String prints the configuration; it holds no secret.
func (c Config) String() string {
	return fmt.Sprintf("{Bucket:%s CredentialsFile:%s EmulatorHost:%s Endpoint:%s ChunkSize:%d MaxRetries:%d Timeout:%s RetentionMode:%s RetentionPeriod:%s}",
		c.Bucket, c.CredentialsFile, c.EmulatorHost, c.Endpoint, c.ChunkSize, c.MaxRetries, c.Timeout, c.RetentionMode, c.RetentionPeriod)
}

// Store is a storage.Store on one GCS bucket. It is safe for concurrent use.
type Store struct {
	cfg       Config
	client    *http.Client
	transport *http.Transport
	api       string // the JSON API: https://storage.googleapis.com/storage/v1
	upload    string // its uploads: https://storage.googleapis.com/upload/storage/v1
	name      string
	log       *slog.Logger

	policyOnce sync.Once
	policyLock bool // the bucket's retention policy is locked
}

// googleAPI is the service's host; Config.Endpoint and Config.EmulatorHost replace it.
const googleAPI = "https://storage.googleapis.com"

// scopeFullControl is the OAuth2 scope the store's tokens are asked with: objects are
// written, read, listed and deleted, and their retention set.
const scopeFullControl = "https://www.googleapis.com/auth/devstorage.full_control"

// testWrap, set by this package's tests, wraps the transport of the stores New builds
// next, to watch their requests.
var testWrap func(http.RoundTripper) http.RoundTripper

var (
	_ ourstorage.Store             = (*Store)(nil)
	_ ourstorage.LockReader        = (*Store)(nil)
	_ ourstorage.Versioned         = (*Store)(nil)
	_ ourstorage.ConditionalWriter = (*Store)(nil)
)

// New checks cfg and builds a client. It reads the credentials but makes no request; call
// CheckBucket to test the bucket and the credentials.
func New(ctx context.Context, cfg Config) (*Store, error) {
	s, err := newStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("configure GCS bucket %q: %w", cfg.Bucket, err)
	}
	return s, nil
}

func newStore(ctx context.Context, cfg Config) (*Store, error) {
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Logger, name: "gs://" + cfg.Bucket}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.transport = stall.NewTransport(cfg.Timeout, 8)
	var base http.RoundTripper = s.transport
	if testWrap != nil {
		base = testWrap(base)
	}
	base = stall.Limit(base)
	host := googleAPI
	switch {
	case cfg.EmulatorHost != "":
		host = cfg.EmulatorHost
		if !strings.Contains(host, "://") {
			host = "http://" + host
		}
		host = apiHost(host)
		s.name += " at " + host
	default:
		ts, err := tokenSource(ctx, cfg, &http.Client{Transport: base})
		if err != nil {
			return nil, err
		}
		base = &oauth2.Transport{Source: ts, Base: base}
		if cfg.Endpoint != "" {
			host = apiHost(cfg.Endpoint)
			s.name += " at " + cfg.Endpoint
		}
	}
	s.api, s.upload = host+"/storage/v1", host+"/upload/storage/v1"
	s.client = &http.Client{Transport: base, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a resumable upload's 308 is an answer, never a redirect
	}}
	return s, nil
}

// apiHost is the scheme and host (and any path before it) of an endpoint given with or
// without the JSON API's path "/storage/v1/".
func apiHost(endpoint string) string {
	endpoint = strings.TrimSuffix(endpoint, "/")
	endpoint = strings.TrimSuffix(endpoint, "/storage/v1")
	return strings.TrimSuffix(endpoint, "/")
}

// tokenSource is the source of the access tokens of the configured credentials: the
// file's, or Application Default Credentials. Tokens are fetched with client (the store's
// transport, silence-bounded), whatever becomes of ctx.
func tokenSource(ctx context.Context, cfg Config, client *http.Client) (oauth2.TokenSource, error) {
	ctx = context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, client)
	if cfg.CredentialsFile == "" {
		creds, err := google.FindDefaultCredentials(ctx, scopeFullControl)
		if err != nil {
			return nil, fmt.Errorf("no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a key file, use workload identity, or run gcloud auth application-default login: %w", err)
		}
		return oauth2.ReuseTokenSource(nil, creds.TokenSource), nil
	}
	b, err := os.ReadFile(cfg.CredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("read the credentials file: %w", err)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.Type == "" {
		return nil, fmt.Errorf("credentials file %s is not a Google credentials JSON file (no \"type\")", cfg.CredentialsFile)
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, b, google.CredentialsType(head.Type), scopeFullControl)
	if err != nil {
		// The library's errors name fields, never their values; the file's path is enough.
		return nil, fmt.Errorf("credentials file %s (type %q) cannot be used: %w", cfg.CredentialsFile, head.Type, err)
	}
	return oauth2.ReuseTokenSource(nil, creds.TokenSource), nil
}

func applyDefaults(cfg *Config) error {
	if err := checkBucketName(cfg.Bucket); err != nil {
		return err
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkSize < MinChunkSize || cfg.ChunkSize%MinChunkSize != 0 {
		return fmt.Errorf("chunk size %d is not a multiple of %d bytes", cfg.ChunkSize, MinChunkSize)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return checkRetentionConfig(cfg)
}

// checkBucketName applies GCS's rule for names without dots: 3 to 63 lower-case letters,
// digits, "-" and "_", starting and ending with a letter or digit (dotted names, up to 222
// characters, in components of at most 63).
func checkBucketName(name string) error {
	ok := len(name) >= 3 && len(name) <= 222
	for _, part := range strings.Split(name, ".") {
		if part == "" || len(part) > 63 {
			ok = false
		}
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && r != '-' && r != '_' && r != '.' || (i == 0 || i == len(name)-1) && !alnum {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("bucket name %q breaks GCS's rule (3 to 63 lower-case letters, digits, \"-\", \"_\" and \".\", starting and ending with a letter or digit)", name)
	}
	return nil
}

// String names the store as "gs://bucket", with the endpoint when it is not Google's.
func (s *Store) String() string { return s.name }

// CheckBucket tells whether the bucket exists and the credentials may use it, before any
// data is read. Its errors wrap ErrNoSuchBucket, ErrAccessDenied or ErrAuthentication
// when that is the cause.
func (s *Store) CheckBucket(ctx context.Context) error {
	// Listing one object needs only storage.objects.list, which every role that may
	// back up has; reading the bucket's metadata would need storage.buckets.get too.
	q := url.Values{"maxResults": {"1"}, "projection": {"noAcl"}, "fields": {"items(name),nextPageToken"}}
	resp, err := s.send(stall.WithAttempts(ctx), request{method: http.MethodGet, url: s.bucketURL("/o", q)})
	if err != nil {
		return fmt.Errorf("check bucket %s: %w", s, explain(noSuchBucket(err)))
	}
	drain(resp)
	return nil
}

// Close releases the store's idle connections.
func (s *Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > 1024:
		return errors.New("key longer than 1024 bytes")
	case strings.ContainsAny(key, "\r\n"):
		return errors.New("key contains a line break")
	case key == "." || key == "..":
		return errors.New(`key is "." or ".."`)
	}
	return nil
}
