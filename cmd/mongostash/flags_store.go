package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/local"
	s3store "github.com/mongostash/mongostash/storage/s3"
)

// StoreFlags say where backups live and how to reach them: the --store URL (s3://, gs://,
// azblob://, file://), or else an S3 bucket, or a local directory when no bucket is set. Every command that reads or writes the store embeds
// them; the commands that write new objects add UploadFlags (flags_upload.go). The seed's
// variables (S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION) work
// unchanged; empty keys use the AWS default credential chain.
type StoreFlags struct {
	StoreURL           string        `name:"store" env:"STORE_URL" placeholder:"URL" help:"Where the backups live: s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix (account from AZURE_STORAGE_ACCOUNT or the connection string) or file:///dir. Empty: S3_BUCKET, else --target-dir."`
	Cloud              CloudFlags    `embed:""`
	url                storeURL      // --store taken apart by applyURL
	Endpoint           string        `name:"s3-endpoint" env:"S3_ENDPOINT" placeholder:"URL" help:"S3 endpoint URL with its scheme, for non-AWS stores (http://minio:9000, https://ceph.example.com); empty for AWS."`
	Bucket             string        `name:"s3-bucket" env:"S3_BUCKET" placeholder:"NAME" help:"Bucket holding the backups. Without a bucket, backups go to --target-dir."`
	Region             string        `name:"s3-region" env:"S3_REGION" placeholder:"REGION" help:"S3 region; empty: us-east-1 with a custom endpoint, the AWS configuration's for AWS."`
	AccessKey          string        `name:"s3-access-key" env:"S3_ACCESS_KEY" placeholder:"KEY" help:"S3 access key; empty uses the AWS default credential chain (env, profile, IRSA, instance role). Also S3_ACCESS_KEY_FILE."`
	SecretKey          string        `name:"s3-secret-key" env:"S3_SECRET_KEY" placeholder:"KEY" help:"S3 secret key. Also S3_SECRET_KEY_FILE."`
	Prefix             string        `name:"s3-prefix" env:"S3_PREFIX" placeholder:"PREFIX" help:"Key prefix of the backups (e.g. 'prod/'); only keys under it are ever listed, pruned or restored. Empty: the bucket's root."`
	ForcePathStyle     *bool         `name:"s3-force-path-style" env:"S3_FORCE_PATH_STYLE" help:"Path-style addressing; unset: on with a custom endpoint, off for AWS."`
	CAFile             string        `name:"s3-ca-file" env:"S3_CA_FILE" placeholder:"PATH" help:"Extra CA bundle (PEM) for a private S3 endpoint." type:"path"`
	InsecureSkipVerify bool          `name:"s3-insecure-skip-verify" env:"S3_INSECURE_SKIP_VERIFY" help:"Do not verify the S3 endpoint's TLS certificate (testing only)."`
	Timeout            time.Duration `name:"s3-timeout" env:"S3_TIMEOUT" default:"60s" range:"1s..1h" help:"Give up a request on which nothing was sent or received for this long (a stalled endpoint); tried 3 times in all. A slow transfer that moves is never cut. Applies to every store (S3, Azure, GCS)."`
	MaxRetries         int           `name:"s3-max-retries" env:"S3_MAX_RETRIES" default:"10" range:"1..100" zero:"no retries" help:"Retries of a failed S3 request (throttling, 5xx, a connection lost mid-run), with exponential backoff up to 20s (10 retries: about a minute). On every store. A store that refuses connections at start fails after 2 attempts."`
	TargetDir          string        `name:"target-dir" env:"BACKUP_DIR" default:"./backups" help:"Local directory for backups when no S3 bucket is set." type:"path"`
}

// open returns the configured store, for the commands that read it (and prune, which
// deletes but never writes).
func (f *StoreFlags) open(ctx context.Context, a *app) (storage.Store, error) {
	return f.openWith(ctx, a, &UploadFlags{})
}

// openWith returns the configured store, which writes new objects as up says.
func (f *StoreFlags) openWith(ctx context.Context, a *app, up *UploadFlags) (storage.Store, error) {
	if err := resolveFile(a, &f.AccessKey, "S3_ACCESS_KEY"); err != nil {
		return nil, err
	}
	if err := resolveFile(a, &f.SecretKey, "S3_SECRET_KEY"); err != nil {
		return nil, err
	}
	a.secrets.Register(f.SecretKey)
	a.secrets.Register(f.AccessKey)
	if err := f.applyURL(); err != nil {
		return nil, err
	}
	if f.Prefix != "" && !strings.HasSuffix(f.Prefix, "/") {
		// A prefix names a folder; 'prod' would otherwise also match 'production/…'.
		f.Prefix += "/"
	}
	switch f.url.scheme {
	case "azblob":
		return f.openAzure(ctx, a, up)
	case "gs":
		return f.openGCS(ctx, a, up)
	}
	if f.Bucket == "" {
		if up.ObjectLockMode != "" || up.ObjectLockDays != 0 {
			return nil, usagef("S3_OBJECT_LOCK_MODE and S3_OBJECT_LOCK_DAYS need an S3 bucket or another object store (S3_BUCKET or STORE_URL): a local directory cannot lock files")
		}
		if f.Endpoint != "" {
			return nil, usagef("S3_ENDPOINT is set but S3_BUCKET is empty: name the bucket")
		}
		if f.url.scheme == "file" {
			a.log.Info("backups in a local directory", "dir", f.TargetDir)
		} else {
			a.log.Info("no S3 bucket configured: using a local directory", "dir", f.TargetDir)
		}
		st, err := local.New(f.TargetDir)
		if err != nil {
			return nil, fmt.Errorf("open backup directory %s: %w", f.TargetDir, err)
		}
		return st, nil
	}
	if (f.AccessKey == "") != (f.SecretKey == "") {
		return nil, usagef("set both S3_ACCESS_KEY and S3_SECRET_KEY, or neither (to use the AWS default credential chain)")
	}
	if err := checkEndpoint(f.Endpoint); err != nil {
		return nil, err
	}
	lockMode, lockPeriod, err := up.objectLock()
	if err != nil {
		return nil, err
	}
	st, err := s3store.New(ctx, s3store.Config{
		Endpoint:           f.Endpoint,
		Bucket:             f.Bucket,
		Region:             f.Region,
		AccessKey:          f.AccessKey,
		SecretKey:          f.SecretKey,
		ForcePathStyle:     f.ForcePathStyle,
		CAFile:             f.CAFile,
		InsecureSkipVerify: f.InsecureSkipVerify,
		SSE:                up.SSE,
		SSEKMSKeyID:        up.SSEKMSKeyID,
		StorageClass:       up.StorageClass,
		PartSize:           int64(up.PartSize),
		Concurrency:        up.Concurrency,
		MaxParts:           up.MaxParts,
		Checksum:           up.Checksum,
		ObjectLockMode:     lockMode,
		ObjectLockPeriod:   lockPeriod,
		Timeout:            f.Timeout,
		MaxRetries:         f.retries(),
		Logger:             a.log,
	})
	if err != nil {
		return nil, usagef("S3 configuration (S3_BUCKET, S3_ENDPOINT, …): %v", err)
	}
	if err := st.CheckBucket(ctx); err != nil {
		return nil, f.unreachable(err)
	}
	return st, nil
}

// checkEndpoint refuses an endpoint without a scheme: whether minio:9000 speaks http or
// https is not for mongostash to guess.
func checkEndpoint(endpoint string) error {
	if endpoint == "" || strings.Contains(endpoint, "://") {
		return nil
	}
	return usagef("S3_ENDPOINT %q has no scheme: write http://%s or https://%s", endpoint, endpoint, endpoint)
}

// unreachable turns the store's "cannot connect" at start into one plain line that names
// the setting to check; other errors pass unchanged.
func (f *StoreFlags) unreachable(err error) error {
	var ue *s3store.UnreachableError
	if !errors.As(err, &ue) {
		return err
	}
	if f.Endpoint == "" {
		return fmt.Errorf("cannot reach S3 at %s: %s (check S3_REGION and the network; or set S3_ENDPOINT for a non-AWS store)", ue.Host, ue.Reason)
	}
	return fmt.Errorf("cannot reach S3_ENDPOINT %s: %s (check S3_ENDPOINT)", ue.Endpoint, ue.Reason)
}

// retries is --s3-max-retries as the stores take it: their 0 is their default, -1 never.
func (f *StoreFlags) retries() int {
	if f.MaxRetries == 0 {
		return -1
	}
	return f.MaxRetries
}
