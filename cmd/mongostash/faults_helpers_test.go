package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
)

// The fault tests (faults_*_test.go) are the adversarial pass of issue 12: each breaks
// something an operator meets — a server killed or silent, a store full, a backup
// damaged, two jobs at once — and asserts what mongostash then does and says.

// bg is a mongostash process running in the background, whose log can be waited on.
type bg struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{}
	code   int
}

func (b *bg) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.Write(p)
}

func (b *bg) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// startBin starts the built binary (mongostashBinary), for what needs a process of its
// own: signals, and runs that go on while the test kills servers under them.
func startBin(t *testing.T, e env, args ...string) *bg {
	t.Helper()
	b := &bg{t: t, cmd: exec.Command(mongostashBinary(t), args...), done: make(chan struct{})}
	b.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range e {
		b.cmd.Env = append(b.cmd.Env, k+"="+v)
	}
	b.cmd.Dir = t.TempDir()
	b.cmd.Stdout = io.Discard
	b.cmd.Stderr = b
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := b.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			b.code = ee.ExitCode()
		} else if err != nil {
			b.code = -1
		}
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// waitLog waits until the log holds substr; false when the process ended first or the
// time ran out.
func (b *bg) waitLog(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(b.log(), substr) {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-b.done:
			return strings.Contains(b.log(), substr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait waits for the process to end, failing the test when it does not within timeout
// (a hang is exactly what some of these tests look for).
func (b *bg) wait(timeout time.Duration) result {
	b.t.Helper()
	select {
	case <-b.done:
	case <-time.After(timeout):
		_ = b.cmd.Process.Kill()
		<-b.done
		b.t.Fatalf("mongostash %v still ran after %s (killed); log:\n%s", b.cmd.Args[1:], timeout, b.log())
	}
	return result{stderr: b.log(), code: b.code}
}

// silentListener accepts TCP connections and never answers: a dead load balancer, a
// half-open NAT, a hung server.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// onlyBackupKey returns the key of the one backup object in the bucket.
func onlyBackupKey(t *testing.T, b *bed) string {
	t.Helper()
	var found []string
	for _, k := range listKeys(t, b) {
		if !strings.HasSuffix(k, catalog.ManifestSuffix) {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one backup object, found %v", found)
	}
	return found[0]
}

// readManifest reads and decodes the manifest of key.
func readManifest(t *testing.T, b *bed, key string) catalog.Manifest {
	t.Helper()
	m, err := catalog.DecodeManifest(getObject(t, b, catalog.ManifestKey(key)))
	if err != nil {
		t.Fatal(err)
	}
	return *m
}

// putManifest stores m as the manifest of key.
func putManifest(t *testing.T, b *bed, key string, m catalog.Manifest) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, b, catalog.ManifestKey(key), data)
}

// privateS3Bed is a bed whose S3 server is the test's own, to kill and restart.
func privateS3Bed(t *testing.T) (*bed, *testenv.Private) {
	t.Helper()
	gw, endpoint := testenv.PrivateVersityGW(t)
	bucket, err := testenv.CreateBucket(endpoint, testenv.UniqueName("mongostash-"))
	if err != nil {
		t.Fatal(err)
	}
	b := newBed(t)
	b.bucket = bucket
	b.env = b.env.with("S3_ENDPOINT", bucket.Endpoint, "S3_BUCKET", bucket.Name)
	return b, gw
}

// privateMongoBed is a bed whose MongoDB server is the test's own, to kill and restart.
func privateMongoBed(t *testing.T) (*bed, *testenv.Private, *testenv.Mongo) {
	t.Helper()
	fdb, url := testenv.PrivateFerretDB(t)
	b := newBed(t)
	m := testenv.ConnectMongo(t, url)
	b.mongo = m
	b.env = b.env.with("MONGO_URL", url, "MONGO_DATABASE", m.DB, "MONGO_TIMEOUT", "3s")
	return b, fdb, m
}

// errorLine is the message of the last ERROR line of a JSON log, for the test's own log.
func errorLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) == nil && m["level"] == "ERROR" {
			msg, _ := m["msg"].(string)
			return msg
		}
	}
	return ""
}
