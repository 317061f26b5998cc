package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The archiver's lease: the one object under a prefix's oplog folder that says which
// `mongostash pitr` may write chunks there. Package pitr takes, renews and releases it with
// conditional writes (storage.ConditionalWriter); this is its name and its record.

// leaseName is the lease's name in the oplog folder; it sorts after every chunk and gap
// marker (their names begin with a digit).
const leaseName = "lease.json"

// LeaseFormatVersion is the lease format this package writes and the newest it reads.
const LeaseFormatVersion = 1

// LeaseKey is the key of the archiver's lease under prefix: <prefix>oplog/lease.json.
func LeaseKey(prefix string) string { return prefix + OplogFolder + leaseName }

// Lease is the record of the archiver allowed to write a prefix's oplog chunks.
type Lease struct {
	FormatVersion int         `json:"format_version"`
	Holder        LeaseHolder `json:"holder"`
	// Epoch grows by one at every change of holder; each chunk manifest records the epoch
	// of the lease it was written under (ChunkManifest.LeaseEpoch), which is how a chunk a
	// former holder finished after a take-over is told from the new holder's.
	Epoch uint64 `json:"epoch"`
	// Renewals counts the holder's writes of the record, so that no two writes hold the
	// same bytes (an S3 ETag is a hash of the content).
	Renewals  uint64    `json:"renewals"`
	RenewedAt time.Time `json:"renewed_at"` // the holder's clock
	// ExpiresAt is RenewedAt plus the lease's time to live: from then on, by the clock of
	// whoever reads it, another archiver may take the lease over.
	ExpiresAt time.Time `json:"expires_at"`
	// Released is set by a holder that stopped cleanly: the lease is free at once.
	Released bool `json:"released,omitempty"`
}

// LeaseHolder names an archiver process.
type LeaseHolder struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Version string    `json:"version,omitempty"`
	// ID is random per process: how a holder recognises its own record.
	ID string `json:"id"`
}

// String names the holder for messages.
func (h LeaseHolder) String() string {
	return fmt.Sprintf("host %s, pid %d, started %s", h.Host, h.PID, h.Started.UTC().Format(time.RFC3339))
}

// Free reports whether the lease may be taken over at now: released, or expired.
func (l Lease) Free(now time.Time) bool { return l.Released || !now.Before(l.ExpiresAt) }

// EncodeLease is the lease's JSON, as stored.
func EncodeLease(l Lease) ([]byte, error) {
	if l.FormatVersion == 0 {
		l.FormatVersion = LeaseFormatVersion
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the lease: %w", err)
	}
	return append(b, '\n'), nil
}

// ErrInvalidLease is wrapped by DecodeLease when the object is not a lease this version
// understands.
var ErrInvalidLease = errors.New("catalog: invalid lease")

// DecodeLease parses a stored lease.
func DecodeLease(b []byte) (Lease, error) {
	var l Lease
	if err := json.Unmarshal(b, &l); err != nil {
		return Lease{}, fmt.Errorf("%w: %v", ErrInvalidLease, err)
	}
	if err := checkFormatVersion(l.FormatVersion, LeaseFormatVersion); err != nil {
		return Lease{}, fmt.Errorf("%w: %v", ErrInvalidLease, err)
	}
	if l.Holder.ID == "" || l.Epoch == 0 || l.ExpiresAt.IsZero() {
		return Lease{}, fmt.Errorf("%w: no holder, epoch or expiry", ErrInvalidLease)
	}
	return l, nil
}
