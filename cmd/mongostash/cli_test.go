package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
)

// The CLI tests call run in this process, as main does, with exactly the environment each
// test gives, against the test bed. What only a real process can show — signals, the exit
// status of the process, the static binary in an empty root, a child's memory — is tested
// on the built binary (e2e_test.go).
//
// run shares nothing between calls and reads no process environment, so the tests that
// mostly wait on the servers run in parallel (t.Parallel). Tests that set the process's
// environment (t.Setenv: PATH for the mongo-tools lookup), signal processes, or whose
// assertions depend on timing (the daemon tests) run alone.

func TestMain(m *testing.M) {
	code := func() int {
		defer removeBinaries()
		defer testenv.StopAll()
		return m.Run()
	}()
	os.Exit(code)
}

// result is what one run of the CLI did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// env is a test's environment for the CLI: the seed's variables and friends.
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

// lookup is the environment as run reads it.
func (e env) lookup(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

// syncBuffer is a bytes.Buffer that the CLI's goroutines write to while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCLI runs mongostash in this process with exactly the environment e (nothing of the
// test process's environment) and returns its output and exit code.
func runCLI(t *testing.T, e env, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, args, e.lookup, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func mustRun(t *testing.T, e env, args ...string) result {
	t.Helper()
	r := runCLI(t, e, args...)
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

// TestLogNumbersAreNumbers: the JSON logs carry durations and throughputs as numbers
// (duration_seconds, throughput_mb_s), which a log pipeline can sum and compare, not as
// strings like "1.2s".
func TestLogNumbersAreNumbers(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	if _, err := b.mongo.Client.Database(b.mongo.DB).Collection("c").InsertOne(context.Background(), map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		msg    string
		fields []string
	}{
		{[]string{"backup"}, "backup complete", []string{"duration_seconds", "throughput_mb_s", "size", "documents"}},
		{[]string{"verify", "latest"}, "backup verified", []string{"duration_seconds", "documents"}},
		{[]string{"restore", "--dry-run"}, "dry run complete", []string{"duration_seconds", "throughput_mb_s", "documents"}},
	} {
		r := mustRun(t, b.env, c.args...)
		var line map[string]any
		for _, l := range strings.Split(r.stderr, "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), c.msg) {
				line = m
			}
		}
		if line == nil {
			t.Fatalf("%s: no %q line:\n%s", c.args[0], c.msg, r.stderr)
		}
		for _, f := range c.fields {
			if _, ok := line[f].(float64); !ok {
				t.Errorf("%s: %s is %T (%v), want a number", c.args[0], f, line[f], line[f])
			}
		}
		if _, ok := line["duration"]; ok {
			t.Errorf("%s: the string duration is still logged: %v", c.args[0], line)
		}
	}
}
