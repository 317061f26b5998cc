package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Lock is an object's retention (S3 Object Lock): until when the store refuses to delete
// or overwrite it.
type Lock struct {
	Mode  string    // "GOVERNANCE", "COMPLIANCE" or LockHold; empty when the object has no retention
	Until time.Time // retain-until; zero when the object has no retention
}

// LockHold is the Mode of a hold without an end date (an Azure legal hold, a GCS
// event-based or temporary hold): it keeps the object until someone lifts it, and its
// Lock's Until is HoldUntil.
const LockHold = "HOLD"

// HoldUntil is the Until of a hold: later than any retention, so that every rule that keeps
// a locked object until its lock ends keeps a held one for as long as the hold lasts.
var HoldUntil = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// Locked reports whether the retention still holds at now.
func (l Lock) Locked(now time.Time) bool { return l.Mode != "" && l.Until.After(now) }

// LockReader is implemented by stores that can lock objects against deletion. Its
// callers ask before deleting, and show the lock in listings.
type LockReader interface {
	// Lock returns the retention of key's version versionID ("" for the current one): a
	// zero Lock when it has none. An absent key is an error wrapping ErrNotFound.
	Lock(ctx context.Context, key, versionID string) (Lock, error)
}

// ErrLocked is wrapped by the error of a key the store refused to delete because it is
// locked — or, on stores that do not tell the two apart (S3 answers AccessDenied to both),
// because access was denied.
var ErrLocked = errors.New("storage: locked against deletion (or access denied)")

// DeleteError is the error of a Delete that could not remove every key: it tried them
// all, and names each one that is left with its reason. The keys not named are deleted.
type DeleteError struct {
	Failed []KeyError
}

// KeyError is why one key (one version of it, with a VersionID) was not deleted.
type KeyError struct {
	Key       string
	VersionID string // empty but for deletes of versions
	Err       error
}

func (e KeyError) Error() string {
	if e.VersionID != "" {
		return fmt.Sprintf("%s (version %s): %v", e.Key, e.VersionID, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

func (e *DeleteError) Error() string {
	msgs := make([]string, 0, min(len(e.Failed), 5))
	for _, f := range e.Failed[:min(len(e.Failed), 5)] {
		msgs = append(msgs, f.Error())
	}
	more := ""
	if len(e.Failed) > 5 {
		more = fmt.Sprintf("; and %d more", len(e.Failed)-5)
	}
	return fmt.Sprintf("%d not deleted: %s%s", len(e.Failed), strings.Join(msgs, "; "), more)
}

// Unwrap returns every key's error, so that errors.Is(err, ErrLocked) tells whether any
// key was refused for a lock.
func (e *DeleteError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// SplitDeleteError sorts the keys a Delete left into those refused for a lock and the
// other failures. An error that is not a *DeleteError is a failure of the whole call,
// returned as other.
func SplitDeleteError(err error) (locked []KeyError, other error) {
	var de *DeleteError
	if !errors.As(err, &de) {
		return nil, err
	}
	var rest []KeyError
	for _, f := range de.Failed {
		if errors.Is(f.Err, ErrLocked) {
			locked = append(locked, f)
		} else {
			rest = append(rest, f)
		}
	}
	if len(rest) > 0 {
		other = &DeleteError{Failed: rest}
	}
	return locked, other
}
