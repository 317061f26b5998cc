package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Private is a test server of one test's own, which it may kill and start again on the
// same address with the same data, as a crashed and restarted server would be.
type Private struct {
	tb   testing.TB
	name string
	addr string // host:port, kept across restarts
	dir  string // data, kept across restarts
	srv  *server
	args func(addr string) *exec.Cmd
}

// PrivateFerretDB starts a FerretDB of the test's own and returns it with its URL.
func PrivateFerretDB(tb testing.TB) (*Private, string) {
	tb.Helper()
	bin, err := Binary("ferretdb")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	p := &Private{tb: tb, name: "ferretdb", dir: tb.TempDir()}
	p.args = func(addr string) *exec.Cmd {
		return exec.Command(bin, "-listen", addr, "-data", filepath.Join(p.dir, "data"), "-log-level", "error")
	}
	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	p.addr = addr
	p.Start()
	return p, "mongodb://" + addr + "/"
}

// PrivateVersityGW starts a versitygw of the test's own and returns it with its endpoint;
// its credentials are S3AccessKey and S3SecretKey.
func PrivateVersityGW(tb testing.TB) (*Private, string) {
	tb.Helper()
	bin, err := Binary("versitygw")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	p := &Private{tb: tb, name: "versitygw", dir: tb.TempDir()}
	root := filepath.Join(p.dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	p.args = func(addr string) *exec.Cmd {
		cmd := exec.Command(bin, "--port", addr, "posix", root)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+S3AccessKey, "ROOT_SECRET_KEY="+S3SecretKey)
		return cmd
	}
	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	p.addr = addr
	p.Start()
	return p, "http://" + addr
}

// Start starts the server (again) on its address with its data, and waits until it
// accepts connections.
func (p *Private) Start() {
	p.tb.Helper()
	s := &server{name: p.name}
	mu.Lock() // start records the server for StopAll
	stdout, err := s.start(p.args(p.addr), p.name == "ferretdb")
	mu.Unlock()
	if err != nil {
		p.tb.Fatalf("testenv: %v", err)
	}
	if stdout != nil {
		go func() { // keep draining, as for the shared server
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if !strings.HasPrefix(sc.Text(), "listening ") {
					fmt.Fprintln(&s.log, sc.Text())
				}
			}
		}()
	}
	p.srv = s
	p.tb.Cleanup(func() { p.Kill() })
	if err := waitTCP(p.addr, s, 60*time.Second); err != nil {
		p.tb.Fatalf("testenv: restart %s: %v", p.name, err)
	}
}

// Kill kills the server with SIGKILL, as a crash would, and waits until it is gone.
func (p *Private) Kill() {
	if p.srv == nil || p.srv.exited() {
		return
	}
	_ = p.srv.cmd.Process.Signal(syscall.SIGKILL)
	<-p.srv.done
}

// LogTail is the end of the server's log, for failure messages.
func (p *Private) LogTail() string {
	if p.srv == nil {
		return ""
	}
	return p.srv.logTail()
}
