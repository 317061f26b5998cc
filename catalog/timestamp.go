package catalog

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Timestamp is an oplog timestamp: seconds since the Unix epoch and an ordinal that orders
// the entries of one second. The oplog is ordered by it; this package uses it for the
// ranges of oplog chunks, recovery windows and restore targets without importing a
// MongoDB driver (the driver's bson.Timestamp has the same two fields).
type Timestamp struct {
	T uint32 `json:"t"`
	I uint32 `json:"i"`
}

// ErrBadTarget is wrapped by ParseTarget when a restore target cannot be read.
var ErrBadTarget = errors.New("catalog: bad target time")

// Compare returns -1, 0 or +1 as a is before, equal to or after b in oplog order.
func (a Timestamp) Compare(b Timestamp) int {
	switch {
	case a.T < b.T || (a.T == b.T && a.I < b.I):
		return -1
	case a == b:
		return 0
	}
	return 1
}

// Before reports whether a comes strictly before b.
func (a Timestamp) Before(b Timestamp) bool { return a.Compare(b) < 0 }

// After reports whether a comes strictly after b.
func (a Timestamp) After(b Timestamp) bool { return a.Compare(b) > 0 }

// IsZero reports the zero timestamp, which no oplog entry has.
func (a Timestamp) IsZero() bool { return a == Timestamp{} }

// Time is the wall-clock second of a, in UTC.
func (a Timestamp) Time() time.Time { return time.Unix(int64(a.T), 0).UTC() }

// Prev is the timestamp just before a: the exclusive lower bound of a range that starts
// with a. The zero timestamp has no predecessor and is returned unchanged.
func (a Timestamp) Prev() Timestamp {
	switch {
	case a.I > 0:
		return Timestamp{a.T, a.I - 1}
	case a.T > 0:
		return Timestamp{a.T - 1, math.MaxUint32}
	}
	return a
}

// String writes a for people and for ParseTarget: "T,I (RFC 3339 time)".
func (a Timestamp) String() string {
	return fmt.Sprintf("%d,%d (%s)", a.T, a.I, a.Time().Format(time.RFC3339))
}

// EndOfSecond is the last timestamp of t's second: a target that includes every entry
// written in that second.
func EndOfSecond(t time.Time) Timestamp {
	return Timestamp{T: clampSeconds(t.Unix()), I: math.MaxUint32}
}

// StartOfSecond is the first timestamp of t's second.
func StartOfSecond(t time.Time) Timestamp {
	return Timestamp{T: clampSeconds(t.Unix())}
}

func clampSeconds(s int64) uint32 {
	return uint32(min(max(s, 0), math.MaxUint32))
}

// ParseTarget reads a restore target, which is inclusive: an RFC 3339 time means "after
// every entry of that second" (a fraction of a second is cut off: oplog times have whole
// seconds), and "T,I" (or "T:I", as mongorestore writes it) names one entry exactly.
func ParseTarget(s string) (Timestamp, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Timestamp{}, fmt.Errorf("%w: empty", ErrBadTarget)
	}
	if secs, ord, ok := strings.Cut(strings.Replace(s, ":", ",", 1), ","); ok && digits(secs) && digits(ord) {
		t, err1 := strconv.ParseUint(secs, 10, 32)
		i, err2 := strconv.ParseUint(ord, 10, 32)
		if err1 != nil || err2 != nil {
			return Timestamp{}, fmt.Errorf("%w: %q: seconds and ordinal must each fit 32 bits", ErrBadTarget, s)
		}
		return Timestamp{T: uint32(t), I: uint32(i)}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Timestamp{}, fmt.Errorf("%w: %q is neither an RFC 3339 time like 2026-11-25T18:48:54Z nor an oplog timestamp <seconds>,<ordinal>", ErrBadTarget, s)
	}
	if sec := t.Unix(); sec <= 0 || sec > math.MaxUint32 {
		return Timestamp{}, fmt.Errorf("%w: %q is outside the range of oplog timestamps (1970 to 2106)", ErrBadTarget, s)
	}
	return EndOfSecond(t), nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
