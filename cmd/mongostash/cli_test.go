package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
)

// The CLI tests run the real binary, as cron and operators do, against the test bed.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mongostash-bin-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "mongostash")
	build := exec.Command("go", "build", "-race", "-o", binPath, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mongostash: %v\n%s", err, out)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		defer testenv.StopAll()
		return m.Run()
	}()
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// env is a test's environment for the binary: the seed's variables and friends.
type env map[string]string

func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// run runs the binary with exactly the given environment (plus PATH and HOME).
func runBin(t *testing.T, e env, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir()
	return collect(t, cmd)
}

// collect runs cmd and returns its output and exit code; failing to start is fatal.
func collect(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
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

func mustRun(t *testing.T, e env, args ...string) result {
	t.Helper()
	r := runBin(t, e, args...)
	if r.code != 0 {
		t.Fatalf("mongostash %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// bed is a fresh database and bucket with the environment that points at them.
type bed struct {
	mongo  *testenv.Mongo
	bucket *testenv.Bucket
	env    env
}

func newBed(t *testing.T) *bed {
	t.Helper()
	m := testenv.NewMongo(t)
	b := testenv.NewBucket(t)
	return &bed{mongo: m, bucket: b, env: env{
		"MONGO_URL":      m.URL,
		"MONGO_DATABASE": m.DB,
		"S3_ENDPOINT":    b.Endpoint,
		"S3_BUCKET":      b.Name,
		"S3_ACCESS_KEY":  b.AccessKey,
		"S3_SECRET_KEY":  b.SecretKey,
		"S3_REGION":      b.Region,
		"LOG_FORMAT":     "json",
	}}
}
