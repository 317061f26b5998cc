package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/mongostash/mongostash/internal/daemon"
)

// version and commit are set at build time (make build, the Dockerfile) with
// -ldflags "-X main.version=… -X main.commit=…"; without them, buildInfo falls back to
// what the Go toolchain recorded (the module version of `go install …@v1.2.3`, the VCS
// revision of a build in a git checkout).
var commit = ""

type versionCmd struct{}

// Help is the long help of the version command.
func (versionCmd) Help() string {
	return `Prints the version, the commit it was built from and the Go version; the metrics say
the same in mongostash_build_info.`
}

func (versionCmd) Run(a *app) error {
	b := buildInfo()
	fmt.Fprintf(a.stdout, "mongostash %s (commit %s, %s, %s/%s)\n", b.Version, b.Commit, b.GoVersion, runtime.GOOS, runtime.GOARCH)
	return nil
}

// buildInfo is this binary's version, commit and Go version.
func buildInfo() daemon.BuildInfo {
	b := daemon.BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && b.Commit == "" {
				b.Commit = s.Value
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}
