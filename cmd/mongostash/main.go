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
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…" (see cmd_version.go).
var version = "dev"

// Soft memory limits of the Go runtime, unless GOMEMLIMIT says otherwise. Every command's
// live heap is bounded by construction (docs/safety.md, "Memory and the local disk"), but with the runtime's default
// pacing the heap grows to twice the live heap before a collection, so peak memory would
// swing with the data. A soft limit a little above the working set keeps the peak near it;
// the collector works harder only near the limit, and never fails an allocation. A limit
// below the working set would make it collect without pause: restore's working set
// (16 MiB of batches, the driver's two copies of the inserts in flight, the zstd window;
// ~70 MB measured) needs more than backup's (8 MiB upload parts, 2 MiB cursor replies,
// 1 MiB archive chunks, the zstd window; ~40 MB measured).
const (
	defaultMemoryLimit = 64 << 20
	restoreMemoryLimit = 96 << 20
)

// main holds what only a process has: its memory limit, its signals, its environment and
// its exit code. Everything else is run, which tests call in-process.
func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// memoryLimit is the soft memory limit for the command args name: restore's for a
// restore, 64 MiB for everything else. Only the logging flags, which take a value, can come
// before the command.
func memoryLimit(args []string) int64 {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--log-format" || a == "--log-level":
			i++ // its value
		case strings.HasPrefix(a, "-"):
		case a == "restore":
			return restoreMemoryLimit
		default:
			return defaultMemoryLimit
		}
	}
	return defaultMemoryLimit
}
