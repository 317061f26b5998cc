package optime

import (
	"fmt"
	"math"
	"time"
)

// Timestamp is an oplog timestamp: seconds since the Unix epoch and an ordinal that
// orders the entries of one second. The driver's bson.Timestamp has the same two fields;
// package oplog converts between them where it talks to the server.
type Timestamp struct {
	T uint32 `json:"t"`
	I uint32 `json:"i"`
}

// Max is the last timestamp there can be: the upper bound of a read to the end of the
// oplog.
var Max = Timestamp{T: math.MaxUint32, I: math.MaxUint32}

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

// String writes a for people: "T,I (RFC 3339 time)". Either half alone is what
// ParseUpTo and ParseBefore read.
func (a Timestamp) String() string {
	return fmt.Sprintf("%d,%d (%s)", a.T, a.I, a.Time().Format(time.RFC3339))
}

// StartOfSecond is the first timestamp of t's second.
func StartOfSecond(t time.Time) Timestamp {
	return Timestamp{T: clampSeconds(t.Unix())}
}

// EndOfSecond is the last timestamp of t's second: an UpTo bound that includes every
// entry written in that second.
func EndOfSecond(t time.Time) Timestamp {
	return Timestamp{T: clampSeconds(t.Unix()), I: math.MaxUint32}
}

func clampSeconds(s int64) uint32 {
	return uint32(min(max(s, 0), math.MaxUint32))
}
