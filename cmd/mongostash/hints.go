package main

import (
	"errors"
	"fmt"

	"github.com/mongostash/mongostash/dump"
)

// hints are what the CLI adds to the errors of the packages below it: those speak of
// databases and options, this names the flags and variables that change the outcome.
var hints = []struct {
	err  error
	hint string
}{
	{dump.ErrNothingToDump, "check MONGO_DATABASE and --ns-include/--ns-exclude, or pass --allow-empty to store an empty backup"},
	{dump.ErrPreserveUUIDNeedsDrop, "add --drop"},
	{dump.ErrTimeseriesExists, "restore it under another name with --ns-from/--ns-to, or drop it first"},
}

// skipHint names the flag that would have restored what a restore skipped.
func skipHint(reason string) string {
	switch reason {
	case dump.SkipOplog:
		return reason + ": --oplog-replay applies it"
	case dump.SkipUsersAndRoles:
		return reason + ": --users-and-roles restores them"
	}
	return reason
}

// withHint appends the CLI's hint for the first known error that err wraps.
func withHint(err error) error {
	var nf *dump.ToolNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%w (--engine mongotools runs it: install MongoDB Database Tools or pass --%s-path)", err, nf.Tool)
	}
	for _, h := range hints {
		if errors.Is(err, h.err) {
			return fmt.Errorf("%w (%s)", err, h.hint)
		}
	}
	return err
}
