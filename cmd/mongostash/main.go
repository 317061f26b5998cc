// Command mongostash backs up MongoDB databases to S3-compatible object storage, prunes
// old backups safely, and restores them — without mongodump or mongorestore installed.
//
// This package is the only place that reads flags and the environment, picks a storage
// backend, builds the logger and maps errors to exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// defaultMemoryLimit is the soft memory limit of the Go runtime unless GOMEMLIMIT says
// otherwise. A backup's live memory is bounded (upload parts, compressor window, cursor
// batches), but with the runtime's default pacing the heap may grow to twice that before a
// collection ends, so peak memory would depend on the data's size. With a soft limit the
// collector works harder only near the limit; it never fails an allocation.
const defaultMemoryLimit = 64 << 20

// main holds what only a process has: its memory limit, its signals, its environment and
// its exit code. Everything else is run, which tests call in-process.
func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
