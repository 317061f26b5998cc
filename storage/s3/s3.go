// Package s3 implements storage.Store on an S3-compatible object store (AWS S3, MinIO, Ceph,
// versitygw, R2, …) with aws-sdk-go-v2.
//
// Uploads stream a reader of unknown size with bounded memory: the first part is read into
// memory; a stream that fits in it is stored with one PutObject, anything longer becomes a
// multipart upload whose parts are read one at a time and uploaded Concurrency at once, so at
// most Concurrency+1 part buffers exist. Parts start at PartSize and double in tiers (see
// partSizes) so that MaxParts parts hold 5 TiB, the S3 object size limit, while backups of
// ordinary size never grow past the first size. Every request is retried with exponential
// backoff and jitter on throttling, 5xx answers and broken connections; each part carries a
// CRC32C (or, configurably, a Content-MD5) that the store verifies, so it rejects a part
// corrupted on the way. A failed or cancelled upload is aborted
// before Put returns: no object appears and no multipart upload is left behind.
//
// Downloads resume: when the connection drops mid-object, the reader asks for the rest with
// a ranged GET pinned to the object's ETag (If-Match), a bounded number of times without
// progress, so a long restore does not restart from zero and never mixes two versions.
//
// The package must never put credentials into errors or logs: every error it returns passes
// through a redactor that replaces the configured keys, and Config prints them as "***".
package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/mongostash/mongostash/storage"
)

// Limits and defaults of uploads.
const (
	DefaultPartSize    = 16 << 20 // first part size
	MinPartSize        = 5 << 20  // S3's smallest part (all but the last)
	MaxPartSize        = 5 << 30  // S3's largest part
	MaxObjectSize      = 5 << 40  // S3's largest object
	DefaultConcurrency = 4        // parts uploaded at once
	MaxConcurrency     = 64
	DefaultMaxParts    = 10000 // S3's part limit; some providers allow only 1,000
	DefaultMaxRetries  = 10    // retries of one request, and resumes of a download without progress
)

// Values of Config.Checksum.
const (
	ChecksumCRC32C = "crc32c"
	ChecksumMD5    = "md5"
)

// Errors CheckBucket wraps, for callers that map them to exit codes or hints.
var (
	ErrNoSuchBucket = errors.New("s3: bucket does not exist")
	ErrAccessDenied = errors.New("s3: access denied")
)

// Config says which bucket to use and how to reach it. The zero values of the numeric
// fields select the defaults.
type Config struct {
	// Endpoint is the URL of a non-AWS store ("https://minio.internal:9000"); a bare
	// host:port means https. Empty means AWS, with the endpoint from the region.
	Endpoint string
	Bucket   string
	// Region defaults to us-east-1 with a custom endpoint; for AWS it comes from the
	// default configuration (AWS_REGION, the shared config) when empty.
	Region string
	// AccessKey and SecretKey (and SessionToken for temporary keys) are static
	// credentials; when both are empty the AWS default credential chain is used
	// (environment, shared config and profiles, web identity/IRSA, container and instance
	// roles).
	AccessKey, SecretKey, SessionToken string
	// ForcePathStyle overrides the addressing style: path-style ("host/bucket/key") by
	// default with a custom endpoint, virtual-hosted ("bucket.host/key") for AWS.
	ForcePathStyle *bool
	// CAFile is a PEM bundle trusted in addition to the system roots (private MinIO/Ceph).
	CAFile string
	// InsecureSkipVerify disables TLS certificate verification (testing only).
	InsecureSkipVerify bool
	// SSE is the server-side encryption of new objects: "", "AES256", "aws:kms" or
	// "aws:kms:dsse"; SSEKMSKeyID names the KMS key for the KMS variants.
	SSE, SSEKMSKeyID string
	// StorageClass of new objects (e.g. "STANDARD_IA"); empty is the store's default.
	StorageClass string
	// PartSize is the first multipart part size (default 16 MiB, at least 5 MiB); streams
	// smaller than it are stored with one PutObject. Later parts grow as needed.
	PartSize int64
	// Concurrency is how many parts are uploaded at once (default 4). Memory for part
	// buffers is at most (Concurrency+1) × the current part size.
	Concurrency int
	// MaxParts is the most parts the store accepts in one upload (default and at most
	// 10,000).
	MaxParts int
	// Checksum is the per-part integrity check the store verifies: ChecksumCRC32C (the
	// default: cheap on both sides) or ChecksumMD5 (Content-MD5, which every
	// S3-compatible store understands, for old stores that reject x-amz-checksum-*).
	Checksum string
	// MaxRetries is how often one request is retried (default 10; negative for never),
	// and how often a download resumes without receiving a byte in between.
	MaxRetries int
	// Timeout is how long a request may go without a byte sent or received before it is
	// given up as stalled (an error wrapping ErrStalled) — a wait for an answer as much as
	// a transfer that stopped; a slow transfer that moves is never cut. A stalled request
	// is retried, but tried at most 3 times in all. Default DefaultTimeout; negative: never.
	Timeout time.Duration
	// Logger receives retries and resumes at Warn level; nil discards them.
	Logger *slog.Logger
	// ObjectLockMode, when set (ObjectLockGovernance or ObjectLockCompliance), gives every
	// object Put writes an S3 Object Lock retention in that mode until ObjectLockPeriod
	// after it is written (for a multipart upload, after the upload starts). The bucket
	// must have Object Lock enabled: CheckObjectLock tells.
	ObjectLockMode   string
	ObjectLockPeriod time.Duration
}

// String prints the configuration with its secrets replaced by "***".
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return `""`
		}
		return "***"
	}
	fps := "default"
	if c.ForcePathStyle != nil {
		fps = fmt.Sprint(*c.ForcePathStyle)
	}
	return fmt.Sprintf("{Endpoint:%s Bucket:%s Region:%s AccessKey:%s SecretKey:%s SessionToken:%s ForcePathStyle:%s CAFile:%s InsecureSkipVerify:%v SSE:%s SSEKMSKeyID:%s StorageClass:%s PartSize:%d Concurrency:%d MaxParts:%d Checksum:%s MaxRetries:%d Timeout:%s ObjectLockMode:%s ObjectLockPeriod:%s}",
		redactURL(c.Endpoint), c.Bucket, c.Region, mask(c.AccessKey), mask(c.SecretKey), mask(c.SessionToken), fps, c.CAFile,
		c.InsecureSkipVerify, c.SSE, mask(c.SSEKMSKeyID), c.StorageClass, c.PartSize, c.Concurrency, c.MaxParts, c.Checksum, c.MaxRetries,
		c.Timeout, c.ObjectLockMode, c.ObjectLockPeriod)
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return "s3.Config" + c.String() }

// Store is a storage.Store on one S3 bucket. It is safe for concurrent use.
type Store struct {
	cfg      Config // with defaults applied
	client   *awss3.Client
	sched    partSizes
	name     string
	redactor *storage.Redactor
	log      *slog.Logger
	// unsigned sends bodies with UNSIGNED-PAYLOAD over TLS, which already protects them,
	// instead of hashing every part once more for the signature; the part checksums still
	// guards them end to end.
	unsigned bool

	locks         lockCache    // whether the bucket has Object Lock, asked once
	noBatchDelete atomic.Bool  // the store rejected DeleteObjects; delete one by one
	retries       atomic.Int64 // retried requests and resumed downloads, for tests
	backoffBase   time.Duration
}

var (
	_ storage.Store              = (*Store)(nil)
	_ storage.StaleUploadAborter = (*Store)(nil)
)

// New checks cfg and builds a client. It does no I/O beyond reading CAFile and the AWS
// shared configuration; call CheckBucket to test the bucket and credentials.
func New(ctx context.Context, cfg Config) (*Store, error) {
	s, err := newStore(ctx, cfg)
	if err != nil {
		return nil, redactorFor(cfg).Redact(fmt.Errorf("configure S3 bucket %q: %w", cfg.Bucket, err))
	}
	return s, nil
}

func newStore(ctx context.Context, cfg Config) (*Store, error) {
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:         cfg,
		sched:       newPartSizes(cfg.PartSize, cfg.MaxParts),
		redactor:    redactorFor(cfg),
		log:         cfg.Logger,
		backoffBase: 200 * time.Millisecond,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.name = "s3://" + cfg.Bucket
	if cfg.Endpoint != "" {
		s.name += " at " + redactURL(cfg.Endpoint)
	}

	httpClient, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	var awsCfg aws.Config
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer { return s.newRetryer() }),
		// Other defaults modes (AWS_DEFAULTS_MODE) replace the transport's dialer, and with
		// it the one that bounds silence on every connection.
		config.WithDefaultsMode(aws.DefaultsModeLegacy),
		// We send our own checksum (Config.Checksum); the SDK's CRC32 on top would cost
		// CPU, and is not understood by every S3-compatible store.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		// The SDK's log could carry request details; errors tell callers what they need.
		config.WithLogger(logging.Nop{}),
		config.WithClientLogMode(0),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	}
	awsCfg, err = config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("no region: set the region (AWS_REGION or the shared config work too)")
	}
	pathStyle := cfg.Endpoint != ""
	if cfg.ForcePathStyle != nil {
		pathStyle = *cfg.ForcePathStyle
	}
	s.client = awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = pathStyle
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s.unsigned = cfg.Endpoint == "" || strings.HasPrefix(cfg.Endpoint, "https://")
	return s, nil
}

// newHTTPClient is the SDK's HTTP client with the TLS settings (an extra CA bundle) and a
// dialer that bounds silence on every connection (stall.go).
func newHTTPClient(cfg Config) (*awshttp.BuildableClient, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.TLSClientConfig = tlsConf
		tr.MaxIdleConnsPerHost = cfg.Concurrency + 4
		if cfg.Timeout > 0 {
			tr.DialContext = idleDialer(tr.DialContext, cfg.Timeout)
		}
	})

	return httpClient, nil
}

func applyDefaults(cfg *Config) error {
	if err := checkBucketName(cfg.Bucket); err != nil {
		return err
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return errors.New("give both the access key and the secret key, or neither to use the AWS default credential chain")
	}
	if cfg.SessionToken != "" && cfg.AccessKey == "" {
		return errors.New("a session token needs an access key and a secret key")
	}
	if cfg.Endpoint != "" {
		if !strings.Contains(cfg.Endpoint, "://") {
			cfg.Endpoint = "https://" + cfg.Endpoint
		}
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("endpoint %s is not an http(s) URL", redactURL(cfg.Endpoint))
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
	}
	switch cfg.SSE {
	case "", "AES256":
		if cfg.SSEKMSKeyID != "" {
			return errors.New("a KMS key ID needs server-side encryption aws:kms")
		}
	case "aws:kms", "aws:kms:dsse":
	default:
		return fmt.Errorf("server-side encryption %q is not one of AES256, aws:kms, aws:kms:dsse", cfg.SSE)
	}
	switch cfg.Checksum {
	case "":
		cfg.Checksum = ChecksumCRC32C
	case ChecksumCRC32C, ChecksumMD5:
	default:
		return fmt.Errorf("checksum %q is not %s or %s", cfg.Checksum, ChecksumCRC32C, ChecksumMD5)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize {
		return fmt.Errorf("part size %d is outside S3's limits (%d to %d bytes)", cfg.PartSize, MinPartSize, int64(MaxPartSize))
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > MaxConcurrency {
		return fmt.Errorf("concurrency %d is outside 1 to %d", cfg.Concurrency, MaxConcurrency)
	}
	if cfg.MaxParts == 0 {
		cfg.MaxParts = DefaultMaxParts
	}
	if cfg.MaxParts < 1 || cfg.MaxParts > DefaultMaxParts {
		return fmt.Errorf("maximum number of parts %d is outside 1 to %d", cfg.MaxParts, DefaultMaxParts)
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
	return checkObjectLockConfig(cfg)
}

// String names the store as "s3://bucket", with the endpoint when it is not AWS.
func (s *Store) String() string { return s.name }

// CheckBucket tells whether the bucket exists and the credentials may use it, before any
// data is read. Its errors wrap ErrNoSuchBucket or ErrAccessDenied when that is the cause,
// and are an *UnreachableError when no connection could be made (tried startAttempts
// times, not the full retry budget).
func (s *Store) CheckBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.cfg.Bucket}, fewAttemptsToConnect)
	if err == nil {
		return nil
	}
	var wrapped error
	switch status := httpStatus(err); {
	case status == 0 && s.unreachable(err) != nil:
		wrapped = s.unreachable(err)
	case status == http.StatusNotFound || apiCode(err) == "NoSuchBucket":
		wrapped = fmt.Errorf("check bucket %s: %w: create it first, or check the bucket name and endpoint", s, ErrNoSuchBucket)
	case status == http.StatusForbidden:
		wrapped = fmt.Errorf("check bucket %s: %w: check the access key, the secret key and the bucket policy", s, ErrAccessDenied)
	case status == http.StatusBadRequest && !followsBucketRule(s.cfg.Bucket):
		wrapped = fmt.Errorf("check bucket %s: the store answered %d: the name %q breaks the rule (%s), or is the region %q wrong? (%w)", s, status, s.cfg.Bucket, BucketNamingRule, s.cfg.Region, err)
	case status == http.StatusMovedPermanently || status == http.StatusBadRequest:
		wrapped = fmt.Errorf("check bucket %s: the store answered %d: is the region %q right? (%w)", s, status, s.cfg.Region, err)
	default:
		wrapped = fmt.Errorf("check bucket %s: %w", s, err)
	}
	return s.redact(wrapped)
}

// checkKey rejects keys S3 cannot store.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > 1024:
		return errors.New("key longer than 1024 bytes")
	case !utf8.ValidString(key):
		return errors.New("key is not valid UTF-8")
	}
	return nil
}

// redactURL drops user information from an endpoint URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("***")
	return u.String()
}

func redactorFor(cfg Config) *storage.Redactor {
	return storage.NewRedactor(cfg.SecretKey, cfg.SessionToken, cfg.AccessKey, cfg.SSEKMSKeyID)
}

func (s *Store) redact(err error) error { return s.redactor.Redact(err) }
