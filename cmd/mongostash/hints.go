package main

import (
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/oplog"
	s3store "github.com/mongostash/mongostash/storage/s3"
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
	{dump.ErrCannotReplace, "restore these collections under other names with --ns-from/--ns-to, leave them out with --ns-exclude, or drop them first and restore without --drop"},
	{dump.ErrNothingToRestore, "check MONGO_DATABASE, --ns-include/--ns-exclude and --ns-from/--ns-to"},
	{s3store.ErrUploadLeft, "prune --abort-stale-uploads removes multipart uploads older than --stale-upload-age (24h by default)"},
	// One sentinel for every store's stalls (S3, Azure, GCS: storage/internal/stall).
	{s3store.ErrStalled, "the store's endpoint accepted the connection but stopped answering: check the endpoint, proxies and load balancers; S3_TIMEOUT sets how long silence is waited for (on every store)"},
	{oplog.ErrNoOplog, "--oplog=auto backs up without one when the server has none; --oplog=false never captures it"},
	{dump.ErrNoOplogToReplay, "--oplog-replay=auto restores it without a replay"},
	{catalog.ErrNotRestorable, "'mongostash list' shows the recovery windows; a time after a gap in the archived oplog needs a base backup taken after the gap"},
}

// mongoLostHint is added to errors of a connection to MongoDB that was lost or went silent.
const mongoLostHint = "the connection to MongoDB was lost or the server stopped answering (a server that misses two heartbeats, each waited for MONGO_TIMEOUT, is given up)"

// skipHint names the flag that would have restored what a restore skipped.
func skipHint(reason string) string {
	switch reason {
	case dump.SkipOplog:
		return reason + ": --oplog-replay=auto or true applies it"
	case dump.SkipUsersAndRoles:
		return reason + ": --users-and-roles restores them"
	}
	return reason
}

// withHint appends the CLI's hints for the known errors that err wraps, once: an error
// that already carries hints is returned as it is.
func withHint(err error) error {
	var h *hintedError
	if err == nil || errors.As(err, &h) {
		return err
	}
	var found []string
	var nf *dump.ToolNotFoundError
	if errors.As(err, &nf) {
		found = append(found, fmt.Sprintf("--engine mongotools runs it: install MongoDB Database Tools or pass --%s-path", nf.Tool))
	}
	for _, h := range hints {
		if errors.Is(err, h.err) {
			found = append(found, h.hint)
		}
	}
	if mongoNetworkError(err) {
		found = append(found, mongoLostHint)
	}
	if len(found) == 0 {
		return err
	}
	return &hintedError{err: err, hint: strings.Join(found, "; ")}
}

// hintedError is an error with the CLI's hint appended.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return fmt.Sprintf("%v (%s)", e.err, e.hint) }
func (e *hintedError) Unwrap() error { return e.err }

// mongoNetworkError reports whether any error in err's tree is a driver error labelled as a
// network error. mongo.IsNetworkError looks at the first labelled error only, and a bulk
// write exception without labels can wrap the network error that caused it.
func mongoNetworkError(err error) bool {
	if err == nil {
		return false
	}
	if le, ok := err.(mongo.LabeledError); ok && le.HasErrorLabel("NetworkError") {
		return true
	}
	// After a lost connection the driver may give up choosing a server (a batch sent again
	// while the server stays silent) rather than report the network error itself.
	if _, ok := err.(topology.ServerSelectionError); ok {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return mongoNetworkError(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if mongoNetworkError(e) {
				return true
			}
		}
	}
	return false
}
