package oplog

import (
	"errors"
	"fmt"
)

// Sentinel errors of the replay. Every error of this package wraps one of its sentinels
// — these, ErrTransaction (txn.go), ErrNoOplog and ErrOverflow (capture.go), ErrRefused
// (select.go), ErrBadEntry (entry.go) or ErrBadDiff (diff.go) — so test them with
// errors.Is.

// ErrUnknownOp: an operation or update format the replay does not know.
var ErrUnknownOp = errors.New("oplog: unknown operation")

// ErrUnknownCommand: a command entry the replay does not know.
var ErrUnknownCommand = errors.New("oplog: unknown command")

// ErrUnsupported: an entry the replay knows and refuses, because applying it cannot give
// the right result (say, a rename across an excluded namespace).
var ErrUnsupported = errors.New("oplog: entry cannot be replayed")

// ErrOrder: entries are not in timestamp order (in a replay, or as the oplog returns them).
var ErrOrder = errors.New("oplog: entries out of order")

// entryErr is an error about one oplog entry: it names the entry by timestamp,
// operation and namespace, so that an operator can find it with --oplog-limit or in the
// oplog itself.
type entryErr struct {
	about string // the entry, as entry.describe writes it
	Err   error
}

func (e *entryErr) Error() string { return fmt.Sprintf("%s: %v", e.about, e.Err) }

func (e *entryErr) Unwrap() error { return e.Err }

// entryError wraps err with the entry it concerns, once.
func entryError(e *entry, err error) error {
	var ee *entryErr
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &entryErr{about: e.describe(), Err: err}
}
