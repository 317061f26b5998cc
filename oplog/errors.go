package oplog

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors of this package wrap one of these (or ErrBadEntry,
// ErrBadDiff), so test them with errors.Is.
var (
	// ErrUnknownOp: an operation or update format the replay does not know.
	ErrUnknownOp = errors.New("oplog: unknown operation")
	// ErrUnknownCommand: a command entry the replay does not know.
	ErrUnknownCommand = errors.New("oplog: unknown command")
	// ErrUnsupported: an entry the replay knows and refuses, because applying it
	// cannot give the right result (say, a rename across an excluded namespace).
	ErrUnsupported = errors.New("oplog: entry cannot be replayed")
	// ErrTransaction: the entries of a transaction do not form a complete chain.
	ErrTransaction = errors.New("oplog: incomplete transaction")
	// ErrOrder: entries are not in timestamp order.
	ErrOrder = errors.New("oplog: entries out of order")
	// ErrNoOplog: the server has no readable oplog.
	ErrNoOplog = errors.New("oplog: no readable oplog")
	// ErrOverflow: the oplog no longer holds the start of the range being captured.
	ErrOverflow = errors.New("oplog: the oplog rolled over during the capture")
	// ErrRefused: the oplog range holds an entry a consistent capture cannot include.
	ErrRefused = errors.New("oplog: capture refused")
)

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
