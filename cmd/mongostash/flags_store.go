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

// StoreFlags say where backups live: an S3 bucket, or a local directory when no bucket
// is set. The seed's variables (S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY,
// S3_REGION) work unchanged; empty keys use the AWS default credential chain.
type StoreFlags struct {
	Endpoint           string        `name:"s3-endpoint" env:"S3_ENDPOINT" help:"S3 endpoint URL for non-AWS stores (MinIO, Ceph, R2, …); empty for AWS."`
	Bucket             string        `name:"s3-bucket" env:"S3_BUCKET" help:"Bucket holding the backups. Without a bucket, backups go to --target-dir."`
	Region             string        `name:"s3-region" env:"S3_REGION" help:"S3 region (default us-east-1 with a custom endpoint)."`
	AccessKey          string        `name:"s3-access-key" env:"S3_ACCESS_KEY" help:"S3 access key; empty uses the AWS default credential chain (env, profile, IRSA, instance role). Also S3_ACCESS_KEY_FILE."`
	SecretKey          string        `name:"s3-secret-key" env:"S3_SECRET_KEY" help:"S3 secret key. Also S3_SECRET_KEY_FILE."`
	Prefix             string        `name:"s3-prefix" env:"S3_PREFIX" help:"Key prefix of the backups (e.g. 'prod/'); only keys under it are ever listed, pruned or restored."`
	ForcePathStyle     *bool         `name:"s3-force-path-style" env:"S3_FORCE_PATH_STYLE" help:"Path-style addressing (default: on with a custom endpoint, off for AWS)."`
	CAFile             string        `name:"s3-ca-file" env:"S3_CA_FILE" help:"Extra CA bundle (PEM) for a private S3 endpoint." type:"path"`
	InsecureSkipVerify bool          `name:"s3-insecure-skip-verify" env:"S3_INSECURE_SKIP_VERIFY" help:"Do not verify the S3 endpoint's TLS certificate (testing only)."`
	SSE                string        `name:"s3-sse" env:"S3_SSE" enum:",AES256,aws:kms" default:"" help:"Server-side encryption: AES256 or aws:kms."`
	SSEKMSKeyID        string        `name:"s3-sse-kms-key-id" env:"S3_SSE_KMS_KEY_ID" help:"KMS key for aws:kms encryption."`
	StorageClass       string        `name:"s3-storage-class" env:"S3_STORAGE_CLASS" help:"Storage class of new objects (e.g. STANDARD_IA)."`
	PartSize           int64         `name:"s3-part-size" env:"S3_PART_SIZE" default:"8388608" help:"First multipart part size in bytes (8 MiB; the upload holds at most --s3-concurrency+1 parts); parts grow so the part limit is never reached."`
	Concurrency        int           `name:"s3-concurrency" env:"S3_CONCURRENCY" default:"4" help:"Parts uploaded at once."`
	MaxParts           int           `name:"s3-max-parts" env:"S3_MAX_PARTS" default:"10000" help:"Most parts the store accepts in one upload."`
	Checksum           string        `name:"s3-checksum" env:"S3_CHECKSUM" default:"crc32c" enum:"crc32c,md5" help:"Integrity checksum sent with every part: crc32c, or md5 for stores that refuse CRC32C."`
	Timeout            time.Duration `name:"s3-timeout" env:"S3_TIMEOUT" default:"60s" help:"Give up a request on which nothing was sent or received for this long (a stalled endpoint); tried 3 times in all. A slow transfer that moves is never cut."`
	MaxRetries         int           `name:"s3-max-retries" env:"S3_MAX_RETRIES" default:"10" help:"Retries of a failed S3 request (throttling, 5xx, lost connections), with exponential backoff up to 20s."`
	TargetDir          string        `name:"target-dir" env:"BACKUP_DIR" default:"./backups" help:"Local directory for backups when no S3 bucket is set." type:"path"`
	ObjectLockMode     string        `name:"s3-object-lock-mode" env:"S3_OBJECT_LOCK_MODE" placeholder:"MODE" help:"Write every object with S3 Object Lock retention in this mode: governance or compliance (the bucket needs Object Lock). Prune never deletes an object before its retention ends."`
	ObjectLockDays     int           `name:"s3-object-lock-days" env:"S3_OBJECT_LOCK_DAYS" default:"0" placeholder:"N" help:"Days of Object Lock retention from the moment each object is written."`
}

// open returns the configured store and a description of it for messages.
func (f *StoreFlags) open(ctx context.Context, a *app) (storage.Store, error) {
	if err := resolveFile(a, &f.AccessKey, "S3_ACCESS_KEY"); err != nil {
		return nil, err
	}
	if err := resolveFile(a, &f.SecretKey, "S3_SECRET_KEY"); err != nil {
		return nil, err
	}
	a.secrets.Register(f.SecretKey)
	a.secrets.Register(f.AccessKey)
	if f.Prefix != "" && !strings.HasSuffix(f.Prefix, "/") {
		// A prefix names a folder; 'prod' would otherwise also match 'production/…'.
		f.Prefix += "/"
	}
	if f.Bucket == "" {
		if f.ObjectLockMode != "" || f.ObjectLockDays != 0 {
			return nil, usagef("S3_OBJECT_LOCK_MODE and S3_OBJECT_LOCK_DAYS need an S3 bucket (S3_BUCKET): a local directory cannot lock files")
		}
		if f.Endpoint != "" {
			return nil, usagef("S3_ENDPOINT is set but S3_BUCKET is empty: name the bucket")
		}
		a.log.Info("no S3 bucket configured: using a local directory", "dir", f.TargetDir)
		st, err := local.New(f.TargetDir)
		if err != nil {
			return nil, fmt.Errorf("open backup directory %s: %w", f.TargetDir, err)
		}
		return st, nil
	}
	if (f.AccessKey == "") != (f.SecretKey == "") {
		return nil, usagef("set both S3_ACCESS_KEY and S3_SECRET_KEY, or neither (to use the AWS default credential chain)")
	}
	lockMode, lockPeriod, err := f.objectLock()
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
		SSE:                f.SSE,
		SSEKMSKeyID:        f.SSEKMSKeyID,
		StorageClass:       f.StorageClass,
		PartSize:           f.PartSize,
		Concurrency:        f.Concurrency,
		MaxParts:           f.MaxParts,
		Checksum:           f.Checksum,
		ObjectLockMode:     lockMode,
		ObjectLockPeriod:   lockPeriod,
		Timeout:            f.Timeout,
		MaxRetries:         f.MaxRetries,
		Logger:             a.log,
	})
	if err != nil {
		return nil, usagef("S3 configuration (S3_BUCKET, S3_ENDPOINT, …): %v", err)
	}
	if err := st.CheckBucket(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// objectLock checks the Object Lock flags and returns the store's mode and period; both
// empty when no lock is asked for.
func (f *StoreFlags) objectLock() (mode string, period time.Duration, err error) {
	switch mode = strings.ToUpper(f.ObjectLockMode); {
	case mode == "" && f.ObjectLockDays == 0:
		return "", 0, nil
	case mode == "":
		return "", 0, usagef("S3_OBJECT_LOCK_DAYS needs S3_OBJECT_LOCK_MODE (governance or compliance)")
	case mode != s3store.ObjectLockGovernance && mode != s3store.ObjectLockCompliance:
		return "", 0, usagef("S3_OBJECT_LOCK_MODE %q: want governance or compliance", f.ObjectLockMode)
	case f.ObjectLockDays <= 0:
		return "", 0, usagef("S3_OBJECT_LOCK_MODE %s needs S3_OBJECT_LOCK_DAYS, a number of days above 0", f.ObjectLockMode)
	}
	return mode, time.Duration(f.ObjectLockDays) * 24 * time.Hour, nil
}

// openForWriting is open for the commands that store objects: when Object Lock is asked
// for, a bucket without it fails here, before anything is read or written.
func (f *StoreFlags) openForWriting(ctx context.Context, a *app) (storage.Store, error) {
	store, err := f.open(ctx, a)
	if err != nil || f.ObjectLockMode == "" {
		return store, err
	}
	if s3, ok := store.(*s3store.Store); ok {
		if err := s3.CheckObjectLock(ctx); err != nil {
			if errors.Is(err, s3store.ErrNoObjectLock) {
				return nil, usageError{fmt.Errorf("%w (or unset S3_OBJECT_LOCK_MODE)", err)}
			}
			return nil, err
		}
		a.log.Info("objects are written with S3 Object Lock", "mode", strings.ToLower(f.ObjectLockMode), "days", f.ObjectLockDays)
	}
	return store, nil
}
