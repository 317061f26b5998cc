package gcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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

// retention is the object retention a new object gets, or nil. Its end is rounded up to
// the second, never shortened.
func (s *Store) retention() *retentionOut {
	if s.cfg.RetentionMode == "" {
		return nil
	}
	until := time.Now().Add(s.cfg.RetentionPeriod).UTC()
	if t := until.Truncate(time.Second); t.Before(until) {
		until = t.Add(time.Second)
	}
	return &retentionOut{Mode: s.cfg.RetentionMode, RetainUntilTime: until.Format(time.RFC3339)}
}

// Lock returns what keeps key's generation versionID ("" for the live one) from being
// deleted: an event-based or temporary hold (storage.LockHold, without an end), else the
// later of its object retention and the bucket's retention policy (a locked one as
// COMPLIANCE, an unlocked one as GOVERNANCE). An object with none has a zero Lock.
func (s *Store) Lock(ctx context.Context, key, versionID string) (ourstorage.Lock, error) {
	if versionID != "" {
		if _, err := strconv.ParseInt(versionID, 10, 64); err != nil {
			return ourstorage.Lock{}, fmt.Errorf("read the retention of %s in %s: version %q is not a GCS generation", key, s, versionID)
		}
	}
	a, err := s.attrs(stall.WithAttempts(ctx), key, versionID)
	switch {
	case statusOf(err) == http.StatusNotFound:
		return ourstorage.Lock{}, fmt.Errorf("read the retention of %s in %s: %w", key, s, ourstorage.ErrNotFound)
	case err != nil:
		return ourstorage.Lock{}, fmt.Errorf("read the retention of %s in %s: %w", key, s, explain(err))
	}
	return s.lockOf(ctx, a), nil
}

func (s *Store) lockOf(ctx context.Context, a object) ourstorage.Lock {
	if a.EventBasedHold || a.TemporaryHold {
		return ourstorage.Lock{Mode: ourstorage.LockHold, Until: ourstorage.HoldUntil}
	}
	var l ourstorage.Lock
	if r := a.Retention; r != nil && !r.RetainUntilTime.IsZero() {
		l = ourstorage.Lock{Mode: "GOVERNANCE", Until: r.RetainUntilTime.UTC()}
		if strings.EqualFold(r.Mode, RetentionLocked) {
			l.Mode = "COMPLIANCE"
		}
	}
	if exp := a.RetentionExpirationTime.Time; !exp.IsZero() && exp.After(l.Until) {
		l = ourstorage.Lock{Mode: "GOVERNANCE", Until: exp.UTC()}
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
		var b struct {
			RetentionPolicy *struct {
				IsLocked bool `json:"isLocked"`
			} `json:"retentionPolicy"`
		}
		resp, err := s.send(stall.WithAttempts(ctx), request{method: http.MethodGet,
			url: s.api + "/b/" + escape(s.cfg.Bucket) + "?" + url.Values{"fields": {"retentionPolicy"}}.Encode()})
		if err == nil {
			err = decode(resp, &b)
		}
		if err != nil {
			s.log.Warn("cannot read the bucket's retention policy; showing its retention as governance", "store", s.name, "error", err.Error())
			return
		}
		s.policyLock = b.RetentionPolicy != nil && b.RetentionPolicy.IsLocked
	})
	return s.policyLock
}
