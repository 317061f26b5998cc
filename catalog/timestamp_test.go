package catalog

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestTimestampOrder(t *testing.T) {
	a, b, c := Timestamp{10, 5}, Timestamp{10, 6}, Timestamp{11, 0}
	if !a.Before(b) || !b.Before(c) || !a.Before(c) || c.Before(a) || a.Before(a) {
		t.Error("Before is not the oplog order")
	}
	if a.Compare(a) != 0 || c.Compare(b) != 1 || b.Compare(c) != -1 || !c.After(b) {
		t.Error("Compare/After disagree with the oplog order")
	}
	for _, tc := range []struct{ in, want Timestamp }{
		{Timestamp{10, 5}, Timestamp{10, 4}},
		{Timestamp{11, 0}, Timestamp{10, math.MaxUint32}},
		{Timestamp{0, 0}, Timestamp{0, 0}},
	} {
		if got := tc.in.Prev(); got != tc.want {
			t.Errorf("%v.Prev() = %v, want %v", tc.in, got, tc.want)
		}
		if tc.in != (Timestamp{}) && !tc.in.Prev().Before(tc.in) {
			t.Errorf("%v.Prev() is not before it", tc.in)
		}
	}
}

func TestParseTarget(t *testing.T) {
	sec := uint32(time.Date(2026, 11, 25, 18, 48, 54, 0, time.UTC).Unix())
	for _, tc := range []struct {
		in   string
		want Timestamp
		ok   bool
	}{
		{"2026-11-25T18:48:54Z", Timestamp{sec, math.MaxUint32}, true},
		{"2026-11-25T18:48:54.999Z", Timestamp{sec, math.MaxUint32}, true}, // the fraction is cut off
		{"2026-11-25T19:48:54+01:00", Timestamp{sec, math.MaxUint32}, true},
		{" 1795632534,7 ", Timestamp{1795632534, 7}, true},
		{"1795632534:7", Timestamp{1795632534, 7}, true},
		{"1795632534,0", Timestamp{1795632534, 0}, true},
		{"", Timestamp{}, false},
		{"1795632534", Timestamp{}, false}, // a bare number is ambiguous: say which
		{"1795632534,", Timestamp{}, false},
		{"99999999999,1", Timestamp{}, false},
		{"1,99999999999", Timestamp{}, false},
		{"yesterday", Timestamp{}, false},
		{"2026-11-25 18:48:54", Timestamp{}, false},
		{"1960-01-01T00:00:00Z", Timestamp{}, false},
	} {
		got, err := ParseTarget(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTarget(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadTarget) {
			t.Errorf("ParseTarget(%q): error %v does not wrap ErrBadTarget", tc.in, err)
		}
	}
}

func TestSecondBounds(t *testing.T) {
	tm := time.Date(2026, 11, 25, 18, 48, 54, 500, time.UTC)
	if s, e := StartOfSecond(tm), EndOfSecond(tm); s.T != e.T || s.I != 0 || e.I != math.MaxUint32 || s.Time() != tm.Truncate(time.Second) {
		t.Errorf("StartOfSecond/EndOfSecond(%v) = %v, %v", tm, s, e)
	}
}
