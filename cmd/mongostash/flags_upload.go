package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mongostash/mongostash/storage"
	s3store "github.com/mongostash/mongostash/storage/s3"
)

// UploadFlags say how new objects are written: only backup and pitr write them, so only
// they show these flags.
type UploadFlags struct {
	SSE            string   `name:"s3-sse" env:"S3_SSE" enum:",AES256,aws:kms" default:"" help:"Server-side encryption of new objects: AES256 or aws:kms; empty: the bucket's default."`
	SSEKMSKeyID    string   `name:"s3-sse-kms-key-id" env:"S3_SSE_KMS_KEY_ID" placeholder:"ID" help:"KMS key for aws:kms encryption; empty: the account's default key."`
	StorageClass   string   `name:"s3-storage-class" env:"S3_STORAGE_CLASS" placeholder:"CLASS" help:"Storage class of new objects (e.g. STANDARD_IA); empty: the bucket's default."`
	PartSize       byteSize `name:"s3-part-size" env:"S3_PART_SIZE" default:"8MiB" range:"5MiB..5GiB" help:"First multipart part size, in bytes or with a unit (8MiB); the upload holds at most --s3-concurrency+1 parts in memory, and parts grow so the part limit is never reached."`
	Concurrency    int      `name:"s3-concurrency" env:"S3_CONCURRENCY" default:"4" range:"1..64" help:"Parts uploaded at once."`
	MaxParts       int      `name:"s3-max-parts" env:"S3_MAX_PARTS" default:"10000" range:"1..10000" help:"Most parts the store accepts in one upload (S3: 10000; some stores: 1000)."`
	Checksum       string   `name:"s3-checksum" env:"S3_CHECKSUM" default:"crc32c" enum:"crc32c,md5" help:"Integrity checksum sent with every part: crc32c, or md5 for stores that refuse CRC32C."`
	ObjectLockMode string   `name:"s3-object-lock-mode" env:"S3_OBJECT_LOCK_MODE" placeholder:"MODE" help:"Write every object with S3 Object Lock retention in this mode: governance or compliance (the bucket needs Object Lock); empty: no lock. Prune never deletes an object before its retention ends."`
	ObjectLockDays int      `name:"s3-object-lock-days" env:"S3_OBJECT_LOCK_DAYS" default:"0" range:"1..36500" zero:"no lock" help:"Days of Object Lock retention from the moment each object is written."`
}

// WriteStoreFlags are the store flags of the commands that write new objects.
type WriteStoreFlags struct {
	StoreFlags  `embed:""`
	UploadFlags `embed:""`
}

// objectLock checks the Object Lock flags and returns the store's mode and period; both
// empty when no lock is asked for.
func (f *UploadFlags) objectLock() (mode string, period time.Duration, err error) {
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

// openForWriting opens the store for the commands that store objects: when Object Lock is
// asked for, a bucket without it fails here, before anything is read or written.
func (f *WriteStoreFlags) openForWriting(ctx context.Context, a *app) (storage.Store, error) {
	store, err := f.openWith(ctx, a, &f.UploadFlags)
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
