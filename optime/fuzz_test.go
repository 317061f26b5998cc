package optime

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// FuzzParse: on any input neither parser panics; they accept the same inputs (but
// latest, which only UpTo reads); what they accept, they read as the same second, and
// they differ only where a whole second puts the bound; a refusal wraps ErrInvalid; and
// what they return parses back to itself from its String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"2026-11-25T18:48:54Z", "2026-11-25T18:48:54.999999999+01:00", "1795632534,7", "1795632534:7",
		"1795632534", "1795632534,", "latest", "LATEST", "", " ", "0,0", "99999999999,1", "1,2,3",
		"4294967295,4294967295", "yesterday", "2026-11-25 18:48:54", "1960-01-01T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		up, latest, errUp := ParseUpTo(s)
		before, errBefore := ParseBefore(s)
		if latest {
			if errUp != nil || !up.IsZero() || errBefore == nil || !strings.EqualFold(strings.TrimSpace(s), Latest) {
				t.Fatalf("%q: latest with %v, %v; ParseBefore: %v", s, up, errUp, errBefore)
			}
			return
		}
		if (errUp == nil) != (errBefore == nil) {
			t.Fatalf("%q: the rules accept different formats: UpTo %v, Before %v", s, errUp, errBefore)
		}
		if errUp != nil {
			if !errors.Is(errUp, ErrInvalid) || !errors.Is(errBefore, ErrInvalid) {
				t.Fatalf("%q: refusals %v / %v do not wrap ErrInvalid", s, errUp, errBefore)
			}
			return
		}
		if up.T != before.T || up.T == 0 {
			t.Fatalf("%q: UpTo %v and Before %v name different seconds", s, up, before)
		}
		if up != before && (up.I != math.MaxUint32 || before.I != 0) {
			t.Fatalf("%q: UpTo %v and Before %v differ other than by a whole second", s, up, before)
		}
		pair, _, _ := strings.Cut(up.String(), " ")
		if again, _, err := ParseUpTo(pair); err != nil || again != up {
			t.Fatalf("%q: %v does not parse back from %q: %v, %v", s, up, pair, again, err)
		}
	})
}
