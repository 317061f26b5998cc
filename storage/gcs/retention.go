package gcs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Values of Config.RetentionMode: GCS object retention's modes. An unlocked retention can
// be shortened or removed by a user allowed to override it (as S3's governance mode); a
// locked one only extended (as compliance).
const (
	RetentionUnlocked = "Unlocked"
	RetentionLocked   = "Locked"
)

func checkRetentionConfig(cfg *Config) error {
	switch strings.ToLower(cfg.RetentionMode) {
	case "":
		if cfg.RetentionPeriod != 0 {
			return errors.New("a retention period needs a mode (unlocked or locked)")
		}
		return nil
	case "unlocked":
		cfg.RetentionMode = RetentionUnlocked
	case "locked":
		cfg.RetentionMode = RetentionLocked
	default:
		return fmt.Errorf("retention mode %q is not unlocked or locked", cfg.RetentionMode)
	}
	if cfg.RetentionPeriod < time.Second {
		return fmt.Errorf("retention period %s is not positive", cfg.RetentionPeriod)
	}
	return nil
}

// retention is the object retention a new object gets, or nil.
func (s *Store) retention() *storage.ObjectRetention {
	if s.cfg.RetentionMode == "" {
		return nil
	}
	return &storage.ObjectRetention{Mode: s.cfg.RetentionMode, RetainUntil: time.Now().Add(s.cfg.RetentionPeriod).UTC()}
}

// Lock returns what keeps key's generation versionID ("" for the live one) from being
// deleted: an event-based or temporary hold (storage.LockHold, without an end), else the
// later of its object retention and the bucket's retention policy (a locked one as
// COMPLIANCE, an unlocked one as GOVERNANCE). An object with none has a zero Lock.
func (s *Store) Lock(ctx context.Context, key, versionID string) (ourstorage.Lock, error) {
	obj := s.bucket.Object(key)
	if versionID != "" {
		g, err := strconv.ParseInt(versionID, 10, 64)
		if err != nil {
			return ourstorage.Lock{}, fmt.Errorf("read the retention of %s in %s: version %q is not a GCS generation", key, s, versionID)
		}
		obj = obj.Generation(g)
	}
	a, err := obj.Attrs(stall.WithAttempts(ctx))
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return ourstorage.Lock{}, fmt.Errorf("read the retention of %s in %s: %w", key, s, ourstorage.ErrNotFound)
	case err != nil:
		return ourstorage.Lock{}, fmt.Errorf("read the retention of %s in %s: %w", key, s, explain(err))
	}
	return s.lockOf(ctx, a), nil
}

func (s *Store) lockOf(ctx context.Context, a *storage.ObjectAttrs) ourstorage.Lock {
	if a.EventBasedHold || a.TemporaryHold {
		return ourstorage.Lock{Mode: ourstorage.LockHold, Until: ourstorage.HoldUntil}
	}
	var l ourstorage.Lock
	if r := a.Retention; r != nil && !r.RetainUntil.IsZero() {
		l = ourstorage.Lock{Mode: "GOVERNANCE", Until: r.RetainUntil.UTC()}
		if strings.EqualFold(r.Mode, RetentionLocked) {
			l.Mode = "COMPLIANCE"
		}
	}
	if !a.RetentionExpirationTime.IsZero() && a.RetentionExpirationTime.After(l.Until) {
		l = ourstorage.Lock{Mode: "GOVERNANCE", Until: a.RetentionExpirationTime.UTC()}
		if s.bucketPolicyLocked(ctx) {
			l.Mode = "COMPLIANCE"
		}
	}
	return l
}

// bucketPolicyLocked reports whether the bucket's retention policy is locked, asked once.
// Credentials that may not read the bucket's metadata (storage.buckets.get) see an
// unlocked policy: the object is kept all the same, only its mode is shown weaker.
func (s *Store) bucketPolicyLocked(ctx context.Context) bool {
	s.policyOnce.Do(func() {
		a, err := s.bucket.Attrs(stall.WithAttempts(ctx))
		if err != nil {
			s.log.Warn("cannot read the bucket's retention policy; showing its retention as governance", "store", s.name, "error", err.Error())
			return
		}
		s.policyLock = a.RetentionPolicy != nil && a.RetentionPolicy.IsLocked
	})
	return s.policyLock
}
