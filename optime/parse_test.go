package optime

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// sec is 2023-11-14T22:13:20Z.
const sec = 1700000000

// TestParseFormats: both rules read every format the same way, and differ only in where
// a whole second puts its bound: UpTo after its last entry, Before before its first.
func TestParseFormats(t *testing.T) {
	for _, tc := range []struct {
		in        string
		upTo      Timestamp // inclusive
		before    Timestamp // exclusive
		wholeSecs bool
	}{
		{"2023-11-14T22:13:20Z", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true},
		{"2023-11-14T22:13:20.999Z", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true}, // fraction cut off
		{"2023-11-14T22:13:20.000000001Z", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true},
		{"2023-11-14T23:13:20+01:00", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true},
		{"2023-11-14T17:43:20.5-04:30", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true},
		{"1700000000", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true}, // a bare count of seconds is a whole second
		{"1700000000,", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true},
		{"1700000000:", Timestamp{sec, math.MaxUint32}, Timestamp{sec, 0}, true},
		{"1700000000,3", Timestamp{sec, 3}, Timestamp{sec, 3}, false}, // one entry, exactly
		{"1700000000:3", Timestamp{sec, 3}, Timestamp{sec, 3}, false}, // mongorestore's spelling
		{" 1700000000,0 ", Timestamp{sec, 0}, Timestamp{sec, 0}, false},
		{"4294967295,4294967295", Max, Max, false},
	} {
		up, latest, err := ParseUpTo(tc.in)
		if err != nil || latest || up != tc.upTo {
			t.Errorf("ParseUpTo(%q) = %v, %v, %v; want %v", tc.in, up, latest, err, tc.upTo)
		}
		before, err := ParseBefore(tc.in)
		if err != nil || before != tc.before {
			t.Errorf("ParseBefore(%q) = %v, %v; want %v", tc.in, before, err, tc.before)
		}
		// The rules: an UpTo bound includes an entry at or before it, a Before bound only
		// one strictly before it; a whole second's UpTo includes all of the second, its
		// Before none of it.
		if tc.wholeSecs {
			for _, e := range []Timestamp{{sec, 0}, {sec, 1}, {sec, math.MaxUint32}} {
				if e.After(up) || e.Before(before) {
					t.Errorf("%q: entry %v must be in UpTo %v and not before Before %v", tc.in, e, up, before)
				}
			}
		}
	}
}

func TestParseLatest(t *testing.T) {
	for _, in := range []string{"latest", " LATEST ", "Latest"} {
		ts, latest, err := ParseUpTo(in)
		if err != nil || !latest || !ts.IsZero() {
			t.Errorf("ParseUpTo(%q) = %v, %v, %v; want latest", in, ts, latest, err)
		}
	}
	_, err := ParseBefore("latest")
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "nor latest") {
		t.Errorf("ParseBefore(latest) = %v; want ErrInvalid, and no suggestion of latest", err)
	}
}

// TestParseRefusals: what neither rule reads, with a message that says what was wrong.
func TestParseRefusals(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{"yesterday", `"yesterday" is neither an RFC 3339 time like 2026-11-25T18:48:54Z nor an oplog timestamp <seconds>[,<ordinal>]`},
		{"2023-11-14 22:13:20", "neither an RFC 3339 time"},
		{"2023-11-14T22:13:20", "neither an RFC 3339 time"}, // no offset: which zone is unknown
		{"1,2,3", "neither"},
		{"1700000000,-1", "neither"},
		{"+1700000000", "neither"},
		{"1700000000 ,3", "neither"},
		{"99999999999,1", `seconds "99999999999" do not fit 32 bits`},
		{"1,99999999999", `ordinal "99999999999" does not fit 32 bits`},
		{"99999999999", `seconds "99999999999" do not fit 32 bits`},
		{"1960-01-01T00:00:00Z", "outside the range of oplog timestamps (1970 to 2106)"},
		{"1970-01-01T00:00:00Z", "outside the range"},
		{"2107-01-01T00:00:00Z", "outside the range"},
		{"0", "outside the range"},
		{"0,0", "outside the range"}, // the zero timestamp: before every entry (and "no limit" to a replay)
		{"0,5", "outside the range"},
	} {
		_, latest, errUp := ParseUpTo(tc.in)
		_, errBefore := ParseBefore(tc.in)
		for rule, err := range map[string]error{"ParseUpTo": errUp, "ParseBefore": errBefore} {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s(%q) = %v; want ErrInvalid saying %q", rule, tc.in, err, tc.want)
			}
		}
		if latest {
			t.Errorf("ParseUpTo(%q) says latest", tc.in)
		}
	}
	if _, _, err := ParseUpTo("yesterday"); err == nil || !strings.HasSuffix(err.Error(), ", nor latest") {
		t.Errorf("ParseUpTo's refusal does not offer latest: %v", err)
	}
}

// TestStringParsesBack: the T,I half of what String writes is the same point under
// both rules.
func TestStringParsesBack(t *testing.T) {
	for _, ts := range []Timestamp{{1, 0}, {sec, 7}, Max} {
		pair, _, _ := strings.Cut(ts.String(), " ")
		up, _, err1 := ParseUpTo(pair)
		before, err2 := ParseBefore(pair)
		if err1 != nil || err2 != nil || up != ts || before != ts {
			t.Errorf("%v: %q parses back as %v, %v (%v, %v)", ts, pair, up, before, err1, err2)
		}
	}
}
