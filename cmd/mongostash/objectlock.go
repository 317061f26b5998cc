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
