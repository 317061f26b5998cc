package optime

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by ParseUpTo and ParseBefore when a point cannot be read.
var ErrInvalid = errors.New("optime: not a point in the oplog")

// Latest is the word ParseUpTo reads as "the newest point the archive reaches".
const Latest = "latest"

// ParseUpTo reads an inclusive bound, the rule of `restore --to-time`: the replay takes
// every entry at or before it. An RFC 3339 time or a bare <seconds> includes every entry
// of that second (its ordinal is the largest there is); "<seconds>,<ordinal>" (or
// "<seconds>:<ordinal>", mongorestore's spelling) includes exactly that entry. latest
// (in any case) is reported, with a zero timestamp, for the caller to resolve.
func ParseUpTo(s string) (ts Timestamp, latest bool, err error) {
	if strings.EqualFold(strings.TrimSpace(s), Latest) {
		return Timestamp{}, true, nil
	}
	ts, whole, err := parse(s, ", nor latest")
	if whole {
		ts.I = math.MaxUint32
	}
	return ts, false, err
}

// ParseBefore reads an exclusive bound, the rule of `restore --oplog-limit` (and of
// mongorestore's --oplogLimit): the replay takes only the entries strictly before it. An
// RFC 3339 time or a bare <seconds> excludes every entry of that second (its ordinal is
// 0); "<seconds>,<ordinal>" (or "<seconds>:<ordinal>") excludes that entry and every
// later one. latest is no exclusive bound and is refused.
func ParseBefore(s string) (Timestamp, error) {
	ts, _, err := parse(s, "")
	return ts, err
}

// parse reads the formats both rules accept. whole reports a time or a bare count of
// seconds, which names a whole second: the result then has ordinal 0, for the rule to
// set. A fraction of a second is cut off, as oplog times have whole seconds.
// alsoAccepted ends the message of an input that is none of the formats.
func parse(s, alsoAccepted string) (ts Timestamp, whole bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ts, false, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if ts, whole, ok, err := parseNumbers(s); ok {
		if err == nil && ts.T == 0 {
			err = fmt.Errorf("%w: %q is outside the range of oplog timestamps (1970 to 2106)", ErrInvalid, s)
		}
		return ts, whole, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return ts, false, fmt.Errorf("%w: %q is neither an RFC 3339 time like 2026-11-25T18:48:54Z nor an oplog timestamp <seconds>[,<ordinal>]%s",
			ErrInvalid, s, alsoAccepted)
	}
	if sec := t.Unix(); sec <= 0 || sec > math.MaxUint32 {
		return ts, false, fmt.Errorf("%w: %q is outside the range of oplog timestamps (1970 to 2106)", ErrInvalid, s)
	}
	return StartOfSecond(t), true, nil
}

// parseNumbers reads "<seconds>", "<seconds>,<ordinal>" or "<seconds>:<ordinal>"; a
// separator with nothing after it is a bare <seconds>. ok is false when s is none of them.
func parseNumbers(s string) (ts Timestamp, whole, ok bool, err error) {
	secs, ord := s, ""
	if sep := strings.IndexAny(s, ",:"); sep >= 0 {
		secs, ord = s[:sep], s[sep+1:]
	}
	if !allDigits(secs) || (ord != "" && !allDigits(ord)) {
		return ts, false, false, nil
	}
	t, err := strconv.ParseUint(secs, 10, 32)
	if err != nil {
		return ts, false, true, fmt.Errorf("%w: seconds %q do not fit 32 bits", ErrInvalid, secs)
	}
	ts.T = uint32(t)
	if ord == "" {
		return ts, true, true, nil
	}
	i, err := strconv.ParseUint(ord, 10, 32)
	if err != nil {
		return ts, false, true, fmt.Errorf("%w: ordinal %q does not fit 32 bits", ErrInvalid, ord)
	}
	ts.I = uint32(i)
	return ts, false, true, nil
}

func allDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
