// Command mongostash backs up MongoDB databases to S3-compatible object storage, prunes
// old backups safely, and restores them — without mongodump or mongorestore installed.
//
// This package is the only place that reads flags and the environment, picks a storage
// backend, builds the logger and maps errors to exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

type cli struct {
	Log LogFlags `embed:"" group:"Logging"`

	Backup  backupCmd  `cmd:"" help:"Dump MongoDB and stream it to the object store (seed: backup.py)."`
	Restore restoreCmd `cmd:"" help:"Restore a backup (the latest complete one by default) into MongoDB (seed: restore.py)."`
	Prune   pruneCmd   `cmd:"" help:"Delete old backups under a retention policy that never deletes the last good one (seed: prune-backups.py)."`
	List    listCmd    `cmd:"" help:"List the backups under the prefix, newest first."`
	Verify  verifyCmd  `cmd:"" help:"Check a backup end to end without MongoDB: decode it, check every CRC and the manifest."`
	Version versionCmd `cmd:"" help:"Print the version."`

	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
}

// usageError marks configuration mistakes, which exit with 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// defaultMemoryLimit is the soft memory limit of the Go runtime unless GOMEMLIMIT says
// otherwise. A backup's live memory is bounded (upload parts, compressor window, cursor
// batches), but with the runtime's default pacing the heap may grow to twice that before a
// collection ends, so peak memory would depend on the data's size. With a soft limit the
// collector works harder only near the limit; it never fails an allocation.
const defaultMemoryLimit = 64 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("mongostash"),
		kong.Description("MongoDB backups to S3-compatible storage in one static binary: backup, prune, restore, list, verify.\n\nEvery flag can also be set by the environment variable shown next to it; flags win over the environment. Secrets can be read from a file named by the variable with _FILE appended (e.g. S3_SECRET_KEY_FILE)."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": version},
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongostash:", err)
		return exitUsage
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongostash:", err)
		return exitUsage
	}
	logger, err := c.Log.logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongostash:", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &app{ctx: ctx, log: logger, stdout: os.Stdout, stderr: os.Stderr}
	err = kctx.Run(app)
	if err == nil {
		return exitOK
	}
	msg := redactSecrets(err.Error())
	logger.Error(msg)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}
