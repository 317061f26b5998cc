package oplog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrBadLimit means a replay limit could not be parsed.
var ErrBadLimit = errors.New("oplog: bad limit")

// Before reports whether a comes strictly before b in oplog order.
func Before(a, b bson.Timestamp) bool {
	return a.T < b.T || (a.T == b.T && a.I < b.I)
}

// IsZero reports whether ts is the zero timestamp (no entry).
func IsZero(ts bson.Timestamp) bool { return ts.T == 0 && ts.I == 0 }

// FormatTimestamp writes ts for people: "T,I (RFC 3339 time)". Either half alone is
// what ParseLimit reads.
func FormatTimestamp(ts bson.Timestamp) string {
	return fmt.Sprintf("%d,%d (%s)", ts.T, ts.I, Time(ts).Format(time.RFC3339))
}

// Time is the wall-clock second of ts, in UTC.
func Time(ts bson.Timestamp) time.Time { return time.Unix(int64(ts.T), 0).UTC() }

// ParseLimit reads a replay limit: a timestamp "T,I" (seconds since the epoch and the
// ordinal within that second; "T:I" as mongorestore writes it, or "T" alone, are accepted
// too) or an RFC 3339 time. A limit is exclusive: entries at or after it are not applied.
// A time has one-second precision, as oplog timestamps do; a fraction of a second is cut
// off, so that no entry written after the given instant is ever applied.
func ParseLimit(s string) (bson.Timestamp, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return bson.Timestamp{}, fmt.Errorf("%w: empty", ErrBadLimit)
	}
	if ts, ok, err := parseTimestampPair(s); ok {
		return ts, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return bson.Timestamp{}, fmt.Errorf("%w: %q is neither a timestamp <seconds>,<ordinal> nor an RFC 3339 time like 2026-01-02T15:04:05Z", ErrBadLimit, s)
	}
	sec := t.Unix()
	if sec <= 0 || sec > int64(^uint32(0)) {
		return bson.Timestamp{}, fmt.Errorf("%w: %q is outside the range of oplog timestamps (1970 to 2106)", ErrBadLimit, s)
	}
	return bson.Timestamp{T: uint32(sec)}, nil
}

// parseTimestampPair reads "T", "T,I" or "T:I"; ok is false when s does not look like one.
func parseTimestampPair(s string) (ts bson.Timestamp, ok bool, err error) {
	sep := strings.IndexAny(s, ",:")
	secs, ord := s, ""
	if sep >= 0 {
		secs, ord = s[:sep], s[sep+1:]
	}
	if !allDigits(secs) || (sep >= 0 && !allDigits(ord) && ord != "") {
		return ts, false, nil
	}
	t, err := strconv.ParseUint(secs, 10, 32)
	if err != nil {
		return ts, true, fmt.Errorf("%w: seconds %q do not fit 32 bits", ErrBadLimit, secs)
	}
	var i uint64
	if ord != "" {
		if i, err = strconv.ParseUint(ord, 10, 32); err != nil {
			return ts, true, fmt.Errorf("%w: ordinal %q does not fit 32 bits", ErrBadLimit, ord)
		}
	}
	return bson.Timestamp{T: uint32(t), I: uint32(i)}, true, nil
}

func allDigits(s string) bool {
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
