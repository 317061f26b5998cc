package azblob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// Values of Config.ImmutabilityMode: Azure's version-level immutability policy modes. An
// unlocked policy can be shortened or removed by the account's owner (as S3's governance
// mode); a locked one only extended (as compliance).
const (
	ImmutabilityUnlocked = "unlocked"
	ImmutabilityLocked   = "locked"
)

func checkImmutabilityConfig(cfg *Config) error {
	cfg.ImmutabilityMode = strings.ToLower(cfg.ImmutabilityMode)
	switch {
	case cfg.ImmutabilityMode == "" && cfg.ImmutabilityPeriod != 0:
		return errors.New("an immutability period needs a mode (unlocked or locked)")
	case cfg.ImmutabilityMode == "":
		return nil
	case cfg.ImmutabilityMode != ImmutabilityUnlocked && cfg.ImmutabilityMode != ImmutabilityLocked:
		return fmt.Errorf("immutability mode %q is not unlocked or locked", cfg.ImmutabilityMode)
	case cfg.ImmutabilityPeriod < time.Second:
		return fmt.Errorf("immutability period %s is not positive", cfg.ImmutabilityPeriod)
	}
	return nil
}

// immutability is the policy a new blob gets: the mode and now + the period, or nothing.
func (s *Store) immutability() (*blob.ImmutabilityPolicySetting, *time.Time) {
	if s.cfg.ImmutabilityMode == "" {
		return nil, nil
	}
	until := time.Now().Add(s.cfg.ImmutabilityPeriod).UTC()
	mode := blob.ImmutabilityPolicySettingUnlocked
	if s.cfg.ImmutabilityMode == ImmutabilityLocked {
		mode = blob.ImmutabilityPolicySettingLocked
	}
	return &mode, &until
}

// Lock returns what keeps key's version versionID ("" for the current one) from being
// deleted: its immutability policy (an unlocked one as GOVERNANCE, a locked one as
// COMPLIANCE, until its expiry) or, taking precedence, a legal hold, which has no end
// (storage.LockHold until storage.HoldUntil). A blob with neither has a zero Lock.
func (s *Store) Lock(ctx context.Context, key, versionID string) (storage.Lock, error) {
	bc := s.client.NewBlobClient(key)
	if versionID != "" {
		var err error
		if bc, err = bc.WithVersionID(versionID); err != nil {
			return storage.Lock{}, err
		}
	}
	props, err := bc.GetProperties(stall.WithAttempts(ctx), nil)
	switch {
	case err == nil:
	case bloberror.HasCode(err, bloberror.BlobNotFound) || statusOf(err) == 404:
		return storage.Lock{}, fmt.Errorf("read the immutability of %s in %s: %w", key, s, storage.ErrNotFound)
	default:
		return storage.Lock{}, s.redact(fmt.Errorf("read the immutability of %s in %s: %w", key, s, explain(short(err))))
	}
	return lockOf(props.LegalHold, props.ImmutabilityPolicyMode, props.ImmutabilityPolicyExpiresOn), nil
}

func lockOf(hold *bool, mode *blob.ImmutabilityPolicyMode, until *time.Time) storage.Lock {
	if hold != nil && *hold {
		return storage.Lock{Mode: storage.LockHold, Until: storage.HoldUntil}
	}
	if mode == nil || until == nil {
		return storage.Lock{}
	}
	switch *mode {
	case blob.ImmutabilityPolicyModeLocked:
		return storage.Lock{Mode: "COMPLIANCE", Until: until.UTC()}
	case blob.ImmutabilityPolicyModeUnlocked:
		return storage.Lock{Mode: "GOVERNANCE", Until: until.UTC()}
	}
	return storage.Lock{}
}
