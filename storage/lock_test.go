package storage

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLockLocked(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		l    Lock
		want bool
	}{
		{Lock{}, false},
		{Lock{Mode: "GOVERNANCE", Until: now.Add(time.Second)}, true},
		{Lock{Mode: "COMPLIANCE", Until: now}, false}, // expires at its date
		{Lock{Mode: "COMPLIANCE", Until: now.Add(-time.Hour)}, false},
		{Lock{Until: now.Add(time.Hour)}, false},
	} {
		if got := tc.l.Locked(now); got != tc.want {
			t.Errorf("%+v.Locked = %v, want %v", tc.l, got, tc.want)
		}
	}
}

func TestSplitDeleteError(t *testing.T) {
	err := fmt.Errorf("delete from s3://b: %w", &DeleteError{Failed: []KeyError{
		{Key: "a", Err: fmt.Errorf("%w: AccessDenied", ErrLocked)},
		{Key: "b", Err: errors.New("InternalError: try again")},
		{Key: "c", VersionID: "v1", Err: fmt.Errorf("%w: AccessDenied", ErrLocked)},
	}})
	if !errors.Is(err, ErrLocked) {
		t.Error("errors.Is(err, ErrLocked) = false")
	}
	if !strings.Contains(err.Error(), "3 not deleted: a: ") || !strings.Contains(err.Error(), "c (version v1)") {
		t.Errorf("message %q: want the count and every key", err)
	}
	locked, other := SplitDeleteError(err)
	if len(locked) != 2 || locked[0].Key != "a" || locked[1].Key != "c" {
		t.Errorf("locked = %+v, want a and c", locked)
	}
	if other == nil || errors.Is(other, ErrLocked) || !strings.Contains(other.Error(), "1 not deleted: b: InternalError") {
		t.Errorf("other = %v, want b's failure only", other)
	}
	if locked, other := SplitDeleteError(errors.New("connection refused")); locked != nil || other == nil {
		t.Errorf("a failure of the whole call: %v, %v", locked, other)
	}
	if locked, other := SplitDeleteError(nil); locked != nil || other != nil {
		t.Errorf("nil: %v, %v", locked, other)
	}
}
