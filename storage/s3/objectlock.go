package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mongostash/mongostash/storage"
)

// Values of Config.ObjectLockMode: S3 Object Lock's retention modes. Governance can be
// lifted by a user with s3:BypassGovernanceRetention; compliance by nobody, the account
// root included, until it expires.
const (
	ObjectLockGovernance = "GOVERNANCE"
	ObjectLockCompliance = "COMPLIANCE"
)

// ErrNoObjectLock is wrapped by CheckObjectLock when the bucket cannot lock objects.
var ErrNoObjectLock = errors.New("s3: the bucket has no Object Lock")

var _ storage.LockReader = (*Store)(nil)

// checkObjectLockConfig validates and normalizes the Object Lock fields of cfg.
func checkObjectLockConfig(cfg *Config) error {
	cfg.ObjectLockMode = strings.ToUpper(cfg.ObjectLockMode)
	switch {
	case cfg.ObjectLockMode == "" && cfg.ObjectLockPeriod != 0:
		return errors.New("an Object Lock retention period needs a mode (governance or compliance)")
	case cfg.ObjectLockMode == "":
		return nil
	case cfg.ObjectLockMode != ObjectLockGovernance && cfg.ObjectLockMode != ObjectLockCompliance:
		return fmt.Errorf("Object Lock mode %q is not governance or compliance", cfg.ObjectLockMode)
	case cfg.ObjectLockPeriod < time.Second:
		return fmt.Errorf("Object Lock retention period %s is not positive", cfg.ObjectLockPeriod)
	}
	return nil
}

// retention is the lock a new object gets: the mode and now + the period, or nothing.
func (s *Store) retention() (types.ObjectLockMode, *time.Time) {
	if s.cfg.ObjectLockMode == "" {
		return "", nil
	}
	until := time.Now().Add(s.cfg.ObjectLockPeriod).UTC()
	return types.ObjectLockMode(s.cfg.ObjectLockMode), &until
}

// CheckObjectLock tells, before anything is written, whether the bucket can lock the
// objects Put writes: it must have Object Lock enabled. Its error wraps ErrNoObjectLock
// when it has not.
func (s *Store) CheckObjectLock(ctx context.Context) error {
	enabled, err := s.objectLockEnabled(ctx)
	switch {
	case err != nil && httpStatus(err) == http.StatusForbidden:
		return s.redact(fmt.Errorf("check Object Lock of %s: %w: allow s3:GetBucketObjectLockConfiguration on the bucket", s, ErrAccessDenied))
	case err != nil:
		return s.redact(fmt.Errorf("check Object Lock of %s: %w", s, err))
	case !enabled:
		return fmt.Errorf("check Object Lock of %s: %w: it can be enabled when a bucket is created (aws s3api create-bucket --object-lock-enabled-for-bucket), "+
			"or on an existing bucket once versioning is enabled (aws s3api put-bucket-versioning --versioning-configuration Status=Enabled, then "+
			"aws s3api put-object-lock-configuration --object-lock-configuration ObjectLockEnabled=Enabled)", s, ErrNoObjectLock)
	}
	return nil
}

// objectLockEnabled asks the bucket whether Object Lock is enabled.
func (s *Store) objectLockEnabled(ctx context.Context) (bool, error) {
	out, err := s.client.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: &s.cfg.Bucket})
	if apiCode(err) == "ObjectLockConfigurationNotFoundError" {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return out.ObjectLockConfiguration != nil && out.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled, nil
}

// lockCache remembers whether the bucket has Object Lock, so that a bucket without it
// costs one request per Store, not one per object.
type lockCache struct {
	once    sync.Once
	without bool // the bucket said it has no Object Lock
	denied  sync.Once
}

// Lock returns the retention of key's version versionID ("" for the current one), read
// with GetObjectRetention: a zero Lock when it has none, or when the bucket has no Object
// Lock at all (asked once per Store, so such a bucket costs no request per object). The
// store tells retention only to credentials allowed s3:GetObjectRetention; without that
// permission Lock logs a warning once and reports no lock, and deleting a locked object
// then fails with storage.ErrLocked.
func (s *Store) Lock(ctx context.Context, key, versionID string) (storage.Lock, error) {
	s.locks.once.Do(func() {
		enabled, err := s.objectLockEnabled(ctx)
		s.locks.without = err == nil && !enabled // when unsure, ask each object
	})
	if s.locks.without {
		return storage.Lock{}, nil
	}
	out, err := s.client.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: &s.cfg.Bucket, Key: &key, VersionId: optional(versionID)})
	switch {
	case err == nil:
	case apiCode(err) == "NoSuchObjectLockConfiguration":
		return storage.Lock{}, nil // no retention on this object
	case isNotFound(err) || apiCode(err) == "NoSuchVersion":
		return storage.Lock{}, s.redact(fmt.Errorf("read the retention of %s in %s: %w: %v", key, s, storage.ErrNotFound, err))
	case httpStatus(err) == http.StatusForbidden:
		s.locks.denied.Do(func() {
			s.log.Warn("cannot read the retention of objects (s3:GetObjectRetention is not allowed): locked objects are only found when the store refuses to delete them",
				"store", s.name, "error", s.redact(err).Error())
		})
		return storage.Lock{}, nil
	default:
		return storage.Lock{}, s.redact(fmt.Errorf("read the retention of %s in %s: %w", key, s, err))
	}
	r := out.Retention
	if r == nil || r.Mode == "" || r.RetainUntilDate == nil {
		return storage.Lock{}, nil
	}
	return storage.Lock{Mode: string(r.Mode), Until: r.RetainUntilDate.UTC()}, nil
}

// lockRefused reports an answer refusing a delete because of a lock: S3 says AccessDenied
// both for a lock and for a missing permission, and cannot be asked which.
func lockRefused(code string, status int) bool {
	return code == "AccessDenied" || status == http.StatusForbidden
}
