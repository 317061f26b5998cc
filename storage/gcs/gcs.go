// Package gcs implements storage.Store on a Google Cloud Storage bucket (or an emulator
// such as fake-gcs-server) with cloud.google.com/go/storage.
//
// Uploads stream a reader of unknown size with bounded memory: a stream shorter than one
// chunk is stored with one request; anything longer becomes a resumable upload whose
// chunks (ChunkSize, one buffer) are sent as they fill and which is finalized with the
// last one, after the whole stream was read, with the CRC32C of the whole object, which
// the service checks. A failed or cancelled upload is never finalized: no object appears
// (an unfinished resumable session is not an object, cannot be listed and expires after a
// week, so there is nothing for prune to clean up).
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
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

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
	// Endpoint overrides the JSON API endpoint (a private service connect endpoint).
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
	cfg    Config
	client *storage.Client
	bucket *storage.BucketHandle
	name   string
	log    *slog.Logger

	policyOnce sync.Once
	policyLock bool // the bucket's retention policy is locked
}

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
	var base http.RoundTripper = stall.NewTransport(cfg.Timeout, 8)
	if testWrap != nil {
		base = testWrap(base)
	}
	base = stall.Limit(base)
	var opts []option.ClientOption
	if cfg.EmulatorHost != "" {
		host := cfg.EmulatorHost
		if !strings.Contains(host, "://") {
			host = "http://" + host
		}
		s.name += " at " + host
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(host, "/")+"/storage/v1/"), option.WithoutAuthentication(),
			option.WithHTTPClient(&http.Client{Transport: base}), storage.WithJSONReads())
	} else {
		auth, err := authOptions(cfg)
		if err != nil {
			return nil, err
		}
		tr, err := htransport.NewTransport(ctx, base, auth...)
		if err != nil {
			return nil, fmt.Errorf("no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a key file, use workload identity, or run gcloud auth application-default login: %w", err)
		}
		opts = append(opts, option.WithHTTPClient(&http.Client{Transport: tr}))
		if cfg.Endpoint != "" {
			opts = append(opts, option.WithEndpoint(cfg.Endpoint))
			s.name += " at " + cfg.Endpoint
		}
	}
	opts = append(opts, storage.WithDisabledClientMetrics(), option.WithTelemetryDisabled())
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	client.SetRetry(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithMaxAttempts(cfg.MaxRetries+1),
		storage.WithBackoff(gax.Backoff{Initial: 200 * time.Millisecond, Max: 20 * time.Second, Multiplier: 2}),
		storage.WithErrorFunc(func(err error) bool {
			if stall.IsGaveUp(err) {
				return false
			}
			return storage.ShouldRetry(err) || errors.Is(err, stall.ErrStalled)
		}),
	)
	s.client, s.bucket = client, client.Bucket(cfg.Bucket)
	return s, nil
}

// authOptions are the client options of the configured credentials: the file's, or ADC.
func authOptions(cfg Config) ([]option.ClientOption, error) {
	scopes := option.WithScopes(storage.ScopeFullControl)
	if cfg.CredentialsFile == "" {
		return []option.ClientOption{scopes}, nil
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
	return []option.ClientOption{scopes, option.WithAuthCredentialsJSON(option.CredentialsType(head.Type), b)}, nil
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
	it := s.bucket.Objects(stall.WithAttempts(ctx), &storage.Query{Prefix: "", Projection: storage.ProjectionNoACL})
	it.PageInfo().MaxSize = 1
	_, err := it.Next()
	if err == nil || errors.Is(err, errDone) {
		return nil
	}
	return fmt.Errorf("check bucket %s: %w", s, explain(err))
}

// Close releases the client's connections.
func (s *Store) Close() error { return s.client.Close() }

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
