// Package azblob implements storage.Store on an Azure Blob Storage container (or Azurite,
// its emulator) with the Azure SDK for Go.
//
// Uploads stream a reader of unknown size with bounded memory, as storage/s3 does: the
// first block is read into memory; a stream that fits in it is stored with one Put Blob,
// anything longer is staged block by block (Concurrency blocks at once, so at most
// Concurrency+1 block buffers exist) and committed with one Put Block List, last. Blocks
// grow in tiers (see blockSizes) so that 50,000 blocks, Azure's limit, hold 5 TiB while
// backups of ordinary size never grow past the first size. Each block carries a CRC-64
// that the service verifies. A failed or cancelled upload commits nothing: the key keeps
// its previous content, and the uncommitted blocks of a new key are deleted with it
// before Put returns (those staged on an existing blob cannot be dropped without
// rewriting it; Azure discards them after a week, and the next Put of the key at once).
//
// Credentials, in this order: a connection string (its BlobEndpoint points at Azurite or
// a private endpoint), a shared key, a SAS token, or else Microsoft Entra ID through
// azidentity's default chain (environment, workload identity, managed identity, Azure
// CLI). Every connection fails after Timeout of silence (storage/internal/stall); a
// stalled request is tried at most three times.
//
// The package must never put credentials into errors or logs: every error it returns
// passes through a redactor that replaces the configured key, SAS token and connection
// string, and Config prints them as "***".
package azblob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Limits and defaults of uploads.
const (
	DefaultBlockSize   = 16 << 20   // first block size
	MinBlockSize       = 1 << 20    // smallest first block accepted
	MaxBlockSize       = 4000 << 20 // Azure's largest block
	MaxBlocks          = 50000      // Azure's block limit per blob
	MaxObjectSize      = 5 << 40    // what the block schedule is sized for
	DefaultConcurrency = 4
	MaxConcurrency     = 64
	DefaultMaxRetries  = 10
	DefaultTimeout     = stall.DefaultTimeout
)

// Errors CheckContainer wraps, for callers that map them to exit codes or hints.
var (
	ErrNoSuchContainer = errors.New("azblob: container does not exist")
	ErrAccessDenied    = errors.New("azblob: access denied")
	ErrAuthentication  = errors.New("azblob: authentication failed")
	// ErrStalled is wrapped by the errors of requests that stopped moving.
	ErrStalled = stall.ErrStalled
)

// Config says which container to use and how to reach it.
type Config struct {
	// Account is the storage account name (AZURE_STORAGE_ACCOUNT); not needed with a
	// connection string or an Endpoint that names it.
	Account string
	// Container is the blob container; it must exist.
	Container string
	// Key is the account's shared key (AZURE_STORAGE_KEY).
	Key string
	// ConnectionString (AZURE_STORAGE_CONNECTION_STRING) holds the account, its key or a
	// SAS, and optionally BlobEndpoint (Azurite: http://127.0.0.1:10000/devstoreaccount1).
	ConnectionString string
	// SASToken is a shared access signature (AZURE_STORAGE_SAS_TOKEN), with or without
	// the leading "?".
	SASToken string
	// Endpoint is the blob service URL; default https://<account>.blob.core.windows.net.
	Endpoint string
	// BlockSize is the first block size (default 16 MiB); streams smaller than it are
	// stored with one Put Blob. Later blocks grow as needed.
	BlockSize int64
	// Concurrency is how many blocks are staged at once (default 4).
	Concurrency int
	// MaxRetries is how often one request is retried (default 10; negative for never).
	MaxRetries int
	// Timeout is how long a connection may stay silent (default 60s; negative: never).
	Timeout time.Duration
	// ImmutabilityMode, when set (ImmutabilityUnlocked or ImmutabilityLocked), gives every
	// blob Put writes a version-level immutability policy until ImmutabilityPeriod after
	// it is written. The container must have version-level immutability support.
	ImmutabilityMode   string
	ImmutabilityPeriod time.Duration
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
	// Credential, when set, is used instead of the credentials above (tests).
	Credential azcore.TokenCredential
}

// String prints the configuration with its secrets replaced by "***".
func (c Config) String() string {
	return fmt.Sprintf("{Account:%s Container:%s Key:%s ConnectionString:%s SASToken:%s Endpoint:%s BlockSize:%d Concurrency:%d MaxRetries:%d Timeout:%s ImmutabilityMode:%s ImmutabilityPeriod:%s}",
		c.Account, c.Container, mask(c.Key), mask(c.ConnectionString), mask(c.SASToken), redactURL(c.Endpoint),
		c.BlockSize, c.Concurrency, c.MaxRetries, c.Timeout, c.ImmutabilityMode, c.ImmutabilityPeriod)
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return "azblob.Config" + c.String() }

func mask(s string) string {
	if s == "" {
		return `""`
	}
	return "***"
}

// Store is a storage.Store on one blob container. It is safe for concurrent use.
type Store struct {
	cfg      Config
	client   *container.Client
	sched    blockSizes
	name     string
	redactor *storage.Redactor
	log      *slog.Logger
	// sharedKey: the credentials can sign with the account key, which is what listing
	// uncommitted blobs and deleting them works with everywhere.
	sharedKey bool
}

var (
	_ storage.Store              = (*Store)(nil)
	_ storage.StaleUploadAborter = (*Store)(nil)
	_ storage.LockReader         = (*Store)(nil)
	_ storage.ConditionalWriter  = (*Store)(nil)
)

// testWrap, set by this package's tests, wraps the transport of the stores New builds
// next, to watch or disturb their requests.
var testWrap func(http.RoundTripper) http.RoundTripper

// New checks cfg and builds a client. It does no I/O; call CheckContainer to test the
// container and the credentials.
func New(cfg Config) (*Store, error) {
	s, err := newStore(cfg)
	if err != nil {
		return nil, redactorFor(cfg).Redact(fmt.Errorf("configure Azure blob container %q: %w", cfg.Container, err))
	}
	return s, nil
}

func newStore(cfg Config) (*Store, error) {
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, sched: newBlockSizes(cfg.BlockSize), redactor: redactorFor(cfg), log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var base http.RoundTripper = stall.NewTransport(cfg.Timeout, cfg.Concurrency+4)
	if testWrap != nil {
		base = testWrap(base)
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: stall.Limit(base)},
		Retry: policy.RetryOptions{
			MaxRetries:    int32(cfg.MaxRetries),
			RetryDelay:    200 * time.Millisecond,
			MaxRetryDelay: 20 * time.Second,
		},
		// The SDK's log could carry request details; errors tell callers what they need.
		Logging: policy.LogOptions{},
	}}
	var err error
	switch {
	case cfg.ConnectionString != "":
		s.client, err = container.NewClientFromConnectionString(cfg.ConnectionString, cfg.Container, opts)
		s.sharedKey = strings.Contains(cfg.ConnectionString, "AccountKey=")
	case cfg.Key != "":
		var cred *container.SharedKeyCredential
		if cred, err = container.NewSharedKeyCredential(cfg.Account, cfg.Key); err == nil {
			s.client, err = container.NewClientWithSharedKeyCredential(containerURL(cfg), cred, opts)
		}
		s.sharedKey = true
	case cfg.SASToken != "":
		s.client, err = container.NewClientWithNoCredential(containerURL(cfg)+"?"+strings.TrimPrefix(cfg.SASToken, "?"), opts)
	default:
		cred := cfg.Credential
		if cred == nil {
			cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts.ClientOptions})
			if err != nil {
				return nil, fmt.Errorf("no Azure credentials: give the account key, a SAS token or a connection string, or sign in (workload or managed identity, az login): %w", err)
			}
		}
		s.client, err = container.NewClient(containerURL(cfg), cred, opts)
	}
	if err != nil {
		return nil, err
	}
	s.name = "azblob://" + cfg.Container
	if u, err := url.Parse(s.client.URL()); err == nil {
		u.RawQuery = ""
		if !strings.HasSuffix(u.Host, ".blob.core.windows.net") {
			s.name += " at " + strings.TrimSuffix(u.String(), "/"+url.PathEscape(cfg.Container))
		} else {
			s.name += " in account " + strings.TrimSuffix(u.Host, ".blob.core.windows.net")
		}
	}
	return s, nil
}

func containerURL(cfg Config) string {
	return strings.TrimSuffix(cfg.Endpoint, "/") + "/" + url.PathEscape(cfg.Container)
}

func applyDefaults(cfg *Config) error {
	if err := checkContainerName(cfg.Container); err != nil {
		return err
	}
	if cfg.ConnectionString == "" && cfg.Endpoint == "" {
		if cfg.Account == "" {
			return errors.New("no storage account: name it (AZURE_STORAGE_ACCOUNT), or give a connection string")
		}
		cfg.Endpoint = "https://" + cfg.Account + ".blob.core.windows.net"
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("endpoint %s is not an http(s) URL", redactURL(cfg.Endpoint))
		}
	}
	if cfg.Key != "" && cfg.Account == "" {
		return errors.New("an account key needs the account name (AZURE_STORAGE_ACCOUNT)")
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.BlockSize < MinBlockSize || cfg.BlockSize > MaxBlockSize {
		return fmt.Errorf("block size %d is outside %d to %d bytes", cfg.BlockSize, MinBlockSize, int64(MaxBlockSize))
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > MaxConcurrency {
		return fmt.Errorf("concurrency %d is outside 1 to %d", cfg.Concurrency, MaxConcurrency)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = -1 // azcore: no retries
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return checkImmutabilityConfig(cfg)
}

// checkContainerName applies Azure's rule: 3 to 63 lower-case letters, digits and single
// hyphens, starting and ending with a letter or digit.
func checkContainerName(name string) error {
	ok := len(name) >= 3 && len(name) <= 63 && !strings.Contains(name, "--") &&
		name[0] != '-' && name[len(name)-1] != '-'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("container name %q breaks Azure's rule (3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit)", name)
	}
	return nil
}

// String names the store as "azblob://container in account A", or with the endpoint when
// it is not Azure's public one.
func (s *Store) String() string { return s.name }

// CheckContainer tells whether the container exists and the credentials may use it,
// before any data is read. Its errors wrap ErrNoSuchContainer, ErrAccessDenied or
// ErrAuthentication when that is the cause.
func (s *Store) CheckContainer(ctx context.Context) error {
	_, err := s.client.GetProperties(stall.WithAttempts(ctx), nil)
	if err == nil {
		return nil
	}
	return s.redact(fmt.Errorf("check container %s: %w", s, explain(err)))
}

// checkKey rejects keys Azure cannot store.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > 1024:
		return errors.New("key longer than 1024 characters")
	case strings.HasSuffix(key, "/") || strings.HasSuffix(key, "."):
		return errors.New(`key ends with "/" or "."`)
	}
	return nil
}
