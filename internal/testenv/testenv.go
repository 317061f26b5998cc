// Package testenv starts the real servers that mongostash's integration tests talk to:
// FerretDB (a MongoDB wire-protocol server), versitygw (an S3 server) and fake-gcs-server
// (a Google Cloud Storage emulator), built from the pinned versions in the testbed/ module,
// and Azurite (the Azure Storage emulator, a Node.js program) installed with npm from the
// lock file in testbed/azurite.
//
// Servers are started once per test binary, on loopback, with data in temporary
// directories, and stopped by Run (call it from TestMain). Each test gets a fresh database
// name and a fresh bucket or container. MONGOSTASH_TEST_MONGO_URL, MONGOSTASH_TEST_S3_ENDPOINT
// (with MONGOSTASH_TEST_S3_ACCESS_KEY/_SECRET_KEY), MONGOSTASH_TEST_AZURE_ENDPOINT and
// MONGOSTASH_TEST_GCS_HOST make the tests reuse servers that already run.
//
// A server that cannot start fails the test with the tail of its log; tests never skip
// because a server is missing.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Fixed credentials of the test bed's S3 server; they guard nothing but loopback test data.
const (
	S3AccessKey = "mongostash-test"
	S3SecretKey = "mongostash-test-secret"
	S3Region    = "us-east-1"
)

var (
	mu       sync.Mutex
	started  []*server
	mongoURL string
	s3URL    string
	mongoErr error
	s3Err    error
)

// Run runs the package's tests and stops the servers they started. Use it in TestMain:
//
//	func TestMain(m *testing.M) { testenv.Run(m) }
func Run(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll stops every server this process started. Run calls it; the demo does too.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	for _, s := range started {
		s.stop()
	}
	started = nil
}

// LogTails returns the last lines each running server logged, for failure messages of
// programs that are not tests (the demo).
func LogTails() string {
	mu.Lock()
	defer mu.Unlock()
	var b strings.Builder
	for _, s := range started {
		state := "running"
		if s.exited() {
			state = "exited: " + s.cmd.ProcessState.String()
		}
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", s.name, state, s.logTail())
	}
	return b.String()
}

// MongoURL returns the URL of a running MongoDB wire-protocol server, starting FerretDB
// on first use.
func MongoURL(tb testing.TB) string {
	tb.Helper()
	url, err := EnsureMongo()
	if err != nil {
		tb.Fatalf("testenv: MongoDB test server: %v", err)
	}
	return url
}

// EnsureMongo is MongoURL for programs that are not tests (the demo).
func EnsureMongo() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if mongoURL == "" && mongoErr == nil {
		mongoURL, mongoErr = startMongo()
	}
	return mongoURL, mongoErr
}

// S3Endpoint returns the URL of a running S3 server, starting versitygw on first use.
func S3Endpoint(tb testing.TB) string {
	tb.Helper()
	url, err := EnsureS3()
	if err != nil {
		tb.Fatalf("testenv: S3 test server: %v", err)
	}
	return url
}

// EnsureS3 is S3Endpoint for programs that are not tests (the demo).
func EnsureS3() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if s3URL == "" && s3Err == nil {
		s3URL, s3Err = startS3()
	}
	return s3URL, s3Err
}

// UniqueName returns prefix followed by random hex, short enough for bucket and database names.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func startMongo() (string, error) {
	if url := os.Getenv("MONGOSTASH_TEST_MONGO_URL"); url != "" {
		return url, nil
	}
	bin, err := Binary("ferretdb")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "mongostash-ferretdb-")
	if err != nil {
		return "", err
	}
	s := &server{name: "ferretdb", dir: dir}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "data"), "-log-level", "error")
	stdout, err := s.start(cmd, true)
	if err != nil {
		return "", err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "listening "); ok && !found {
				found = true
				line <- rest
				close(line)
				continue
			}
			fmt.Fprintln(&s.log, sc.Text()) // keep draining: an unread pipe would block or kill the server
		}
		if !found {
			close(line)
		}
	}()
	select {
	case url, ok := <-line:
		if !ok {
			s.stop()
			return "", fmt.Errorf("ferretdb exited before listening; log tail:\n%s", s.logTail())
		}
		return url, nil
	case <-time.After(60 * time.Second):
		s.stop()
		return "", fmt.Errorf("ferretdb did not listen within 60s; log tail:\n%s", s.logTail())
	}
}

func startS3() (string, error) {
	if url := os.Getenv("MONGOSTASH_TEST_S3_ENDPOINT"); url != "" {
		return url, nil
	}
	bin, err := Binary("versitygw")
	if err != nil {
		return "", err
	}
	// versitygw cannot report a port it picked itself, so pick a free one and retry
	// if another process takes it first.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "mongostash-versitygw-")
		if err != nil {
			return "", err
		}
		root := filepath.Join(dir, "root")
		versions := filepath.Join(dir, "versions")
		for _, d := range []string{root, versions} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return "", err
			}
		}
		s := &server{name: "versitygw", dir: dir}
		// With a versioning directory, buckets created with Object Lock are versioned, as
		// on AWS; every other bucket stays unversioned.
		cmd := exec.Command(bin, "--port", addr, "posix", "--versioning-dir", versions, root)
		cmd.Env = append(os.Environ(),
			"ROOT_ACCESS_KEY="+S3AccessKey, "ROOT_SECRET_KEY="+S3SecretKey)
		if _, err := s.start(cmd, false); err != nil {
			return "", err
		}
		if err := waitTCP(addr, s, 30*time.Second); err != nil {
			lastErr = err
			s.stop()
			continue
		}
		return "http://" + addr, nil
	}
	return "", lastErr
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitTCP(addr string, s *server, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s.exited() {
			return fmt.Errorf("%s exited at start; log tail:\n%s", s.name, s.logTail())
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %s; log tail:\n%s", s.name, addr, limit, s.logTail())
}

// server is one child process with its log captured in memory.
type server struct {
	name string
	dir  string
	cmd  *exec.Cmd
	log  lockedBuffer
	done chan struct{}
}

// start starts cmd with its stderr in the log. With wantStdout, stdout comes back as a
// pipe the caller must keep reading; otherwise it goes to the log too (a pipe nobody
// reads would kill the server with SIGPIPE once garbage-collected).
func (s *server) start(cmd *exec.Cmd, wantStdout bool) (stdout *os.File, err error) {
	cmd.Stderr = &s.log
	if !wantStdout {
		cmd.Stdout = &s.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", s.name, err)
		}
		s.track(cmd)
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	// The kernel kills the server if the test binary dies without running StopAll.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	w.Close()
	s.track(cmd)
	return r, nil
}

func (s *server) track(cmd *exec.Cmd) {
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	started = append(started, s)
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *server) stop() {
	if s.cmd != nil && !s.exited() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func (s *server) logTail() string {
	b := s.log.Bytes()
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

var errNoRoot = errors.New("cannot find the mongostash module root (go.mod) above the working directory")

// RepoRoot returns the directory of mongostash's go.mod, found by walking up from the
// working directory (go test runs each package in its own directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/mongostash/mongostash\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errNoRoot
		}
		dir = parent
	}
}

// Binary returns the path of a test-bed binary (the servers ferretdb, versitygw and
// fake-gcs-server, and kubeconform, the manifests' validator), building it from the testbed
// module's pinned versions when it is missing. `make testbed` builds them ahead of time.
func Binary(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "testbed", name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	pkg := map[string]string{
		"ferretdb":        "./ferretdb",
		"versitygw":       "github.com/versity/versitygw/cmd/versitygw",
		"kubeconform":     "github.com/yannh/kubeconform/cmd/kubeconform",
		"fake-gcs-server": "github.com/fsouza/fake-gcs-server",
	}[name]
	if pkg == "" {
		return "", fmt.Errorf("unknown test-bed binary %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// Build to a temporary name and rename, so parallel test binaries never run a half-written file.
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, pkg)
	cmd.Dir = filepath.Join(root, "testbed")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test-bed %s: %v\n%s", name, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}
