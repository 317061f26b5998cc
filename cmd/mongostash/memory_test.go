package main

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestMemoryLimitPerCommand: restore gets the larger soft limit its working set needs
// (docs/safety.md, "Memory and the local disk"), whatever comes before or after the command's name; every other
// command keeps 64 MiB. The command each case names is checked against the CLI's own parser.
func TestMemoryLimitPerCommand(t *testing.T) {
	parser, err := kong.New(&cli{}, kong.Name("mongostash"), kong.Vars{"version": "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{[]string{"restore"}, restoreMemoryLimit},
		{[]string{"restore", "backup-2026-01-01T00:00:00Z.dump.zst"}, restoreMemoryLimit},
		{[]string{"--log-level", "debug", "restore", "--from", "x.dump"}, restoreMemoryLimit},
		{[]string{"--log-format=json", "restore", "--drop"}, restoreMemoryLimit},
		{[]string{"backup"}, defaultMemoryLimit},
		{[]string{"backup", "--ns-include", "restore"}, defaultMemoryLimit},
		{[]string{"--log-level", "warn", "verify", "latest"}, defaultMemoryLimit},
		{[]string{"prune", "--dry-run"}, defaultMemoryLimit},
		{nil, defaultMemoryLimit},
	} {
		if got := memoryLimit(tc.args); got != tc.want {
			t.Errorf("%v: limit %d MiB, want %d MiB", tc.args, got>>20, tc.want>>20)
		}
		if len(tc.args) == 0 {
			continue
		}
		kctx, err := parser.Parse(tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if isRestore := strings.HasPrefix(kctx.Command(), "restore"); isRestore != (tc.want == restoreMemoryLimit) {
			t.Errorf("%v: the CLI runs %q", tc.args, kctx.Command())
		}
	}
}
