package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Most CLI tests call run in this process. These run the built binary instead, for what a
// call of run cannot stand for, and build it only when one of them runs:
//
//   - TestProcessExitCodes (here): the exit status of the process, and main's wiring of
//     the process's environment and output streams into run.
//   - TestBackupSIGTERMLeavesNothing (cancel_test.go): SIGTERM midway through a backup
//     reaches main's signal context; nothing is left in the bucket.
//   - TestScheduledBackup (schedule_test.go): a daemon stops on SIGTERM during an upload,
//     exits 0 and leaves no partial object.
//   - The fault tests that need a process of their own (faults_*_test.go, startBin): SIGTERM
//     and SIGINT during a restore, servers killed or stalled under a running command, two
//     backups at once, prunes during a backup, a full filesystem in a mount namespace.
//   - TestScratchImage (chroot_test.go) builds the static binary of the Dockerfile and runs
//     it in an empty root; the benchmarks (bench_test.go) build an optimized binary and
//     measure the child's memory and CPU.

var (
	binDirOnce sync.Once
	binDir     string
	binDirErr  error

	raceBinOnce sync.Once
	raceBin     string
	raceBinErr  error
)

// testBinDir is the directory the test binaries are built in; TestMain removes it.
func testBinDir() (string, error) {
	binDirOnce.Do(func() { binDir, binDirErr = os.MkdirTemp("", "mongostash-bin-") })
	return binDir, binDirErr
}

func removeBinaries() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// mongostashBinary builds mongostash with the race detector, once per test process, the
// first time a test needs it.
func mongostashBinary(t testing.TB) string {
	t.Helper()
	raceBinOnce.Do(func() {
		dir, err := testBinDir()
		if err != nil {
			raceBinErr = err
			return
		}
		bin := filepath.Join(dir, "mongostash")
		build := exec.Command("go", "build", "-race", "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := build.CombinedOutput(); err != nil {
			raceBinErr = fmt.Errorf("build mongostash: %v\n%s", err, out)
			return
		}
		raceBin = bin
	})
	if raceBinErr != nil {
		t.Fatal(raceBinErr)
	}
	return raceBin
}

// binaryCommand is the binary with exactly the given environment (plus PATH and HOME),
// in an empty working directory.
func binaryCommand(ctx context.Context, t *testing.T, e env, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, mongostashBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir()
	return cmd
}

// runBinary runs the binary and returns its output and exit status.
func runBinary(t *testing.T, e env, args ...string) result {
	t.Helper()
	mongostashBinary(t) // built before the clock starts
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return collect(t, binaryCommand(ctx, t, e, args...))
}

// collect runs cmd and returns its output and exit code; failing to start is fatal.
func collect(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// TestProcessExitCodes: the process exits with run's code — 0 for success and --help
// (which kong ends with an exit of its own), 1 for a failed operation, 2 for a usage
// error — and main hands run the process's environment (a variable, a _FILE secret) and
// its standard output and error.
func TestProcessExitCodes(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(secretFile, []byte("mongodb://u:F1le-Secret@"+closedPort(t)+"/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      env
		args     []string
		code     int
		stdout   string
		stderr   string
		notInAny string
	}{
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "mongostash "},
		{name: "help", args: []string{"backup", "--help"}, code: exitOK, stdout: "MONGO_URL"},
		{name: "unknown flag", args: []string{"list", "--no-such-flag"}, code: exitUsage, stderr: "no-such-flag"},
		{name: "bad variable", env: env{"BACKUP_COMPRESSION": "lz4"}, args: []string{"backup"}, code: exitUsage, stderr: "compression"},
		{name: "failure, URL from a _FILE", env: env{"MONGO_URL_FILE": secretFile, "MONGO_TIMEOUT": "1s", "LOG_FORMAT": "json"},
			args: []string{"restore", "--from", "-"}, code: exitFailed, stderr: "cannot reach MongoDB", notInAny: "F1le-Secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runBinary(t, tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("want exit %d, got %s", tc.code, r)
			}
			if !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("want %q on stdout and %q on stderr, got %s", tc.stdout, tc.stderr, r)
			}
			if tc.notInAny != "" && strings.Contains(r.stdout+r.stderr, tc.notInAny) {
				t.Errorf("output contains the secret %q: %s", tc.notInAny, r)
			}
		})
	}
}
