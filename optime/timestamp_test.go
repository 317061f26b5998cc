package optime

import (
	"math"
	"testing"
	"time"
)

func TestTimestampOrder(t *testing.T) {
	a, b, c := Timestamp{10, 5}, Timestamp{10, 6}, Timestamp{11, 0}
	if !a.Before(b) || !b.Before(c) || !a.Before(c) || c.Before(a) || a.Before(a) {
		t.Error("Before is not the oplog order")
	}
	if a.Compare(a) != 0 || c.Compare(b) != 1 || b.Compare(c) != -1 || !c.After(b) || b.After(b) {
		t.Error("Compare/After disagree with the oplog order")
	}
	if !(Timestamp{}).IsZero() || a.IsZero() || !c.Before(Max) {
		t.Error("IsZero or Max is wrong")
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

func TestSecondBounds(t *testing.T) {
	tm := time.Date(2026, 11, 25, 18, 48, 54, 500, time.UTC)
	if s, e := StartOfSecond(tm), EndOfSecond(tm); s.T != e.T || s.I != 0 || e.I != math.MaxUint32 || s.Time() != tm.Truncate(time.Second) {
		t.Errorf("StartOfSecond/EndOfSecond(%v) = %v, %v", tm, s, e)
	}
	if s := StartOfSecond(time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)); s.T != 0 {
		t.Errorf("a second before 1970 is not clamped to 0: %v", s)
	}
}

func TestString(t *testing.T) {
	if got := (Timestamp{T: 1700000000, I: 7}).String(); got != "1700000000,7 (2023-11-14T22:13:20Z)" {
		t.Errorf("String: %s", got)
	}
}
