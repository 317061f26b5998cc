package soak

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one mongostash process of the soak, its output kept in a file of the log
// directory (named for the cycle and the command) and in memory.
type proc struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	file   *os.File
	stdout stdoutBuffer // standard output alone, for the commands that print JSON
	done   chan struct{}
	code   int
	killed bool // the soak killed it with SIGKILL
	began  time.Time
	ended  time.Time // set before done is closed
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.file.Write(b)
	return p.out.Write(b)
}

// stdoutBuffer keeps the standard output apart, and in the log file too.
type stdoutBuffer struct {
	p   *proc
	buf bytes.Buffer
}

func (b *stdoutBuffer) Write(data []byte) (int, error) {
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	b.p.file.Write(data)
	return b.buf.Write(data)
}

// output is the standard output of a process that has ended.
func (p *proc) output() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.buf.Bytes()
}

// log is what the process wrote so far.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs the binary with env and args in the background.
func (s *soak) start(name string, env []string, args ...string) *proc {
	s.seq++
	path := filepath.Join(s.logDir, fmt.Sprintf("c%02d-%03d-%s.log", s.cycle, s.seq, name))
	f, err := os.Create(path)
	if err != nil {
		s.t.Fatal(err)
	}
	p := &proc{name: fmt.Sprintf("%s (cycle %d, %s)", name, s.cycle, filepath.Base(path)), cmd: exec.Command(s.bin, args...), file: f, done: make(chan struct{})}
	p.cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.logDir}, s.env...), env...)
	p.stdout.p = p
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, p
	p.began = time.Now()
	if err := p.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.ended = time.Now()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		f.Close()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return p
}

// kill9 kills the process with SIGKILL, as the OOM killer or a lost node would, and waits.
func (p *proc) kill9() {
	select {
	case <-p.done:
		return
	default:
	}
	p.killed = true
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process; past limit (generous: a hang, not slowness) it is killed and
// reported as hung.
func (p *proc) wait(limit time.Duration) (code int, hung bool) {
	select {
	case <-p.done:
		return p.code, false
	case <-time.After(limit):
		p.kill9()
		return p.code, true
	}
}

// run runs the binary to its end.
func (s *soak) run(name string, env []string, args ...string) (*proc, int) {
	p := s.start(name, env, args...)
	code, hung := p.wait(processLimit)
	if hung {
		s.finding("%s hung for %s and was killed; last lines:\n%s", p.name, processLimit, tail(p.log(), 8))
	}
	return p, code
}

// processLimit bounds every process of the soak. FerretDB v1 is slow under load: it is
// far above any run's duration and only catches a hang.
const processLimit = 20 * time.Minute

// logField is the value of field in the first JSON log line whose msg is msg.
func logField(log, msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["msg"] != msg {
			continue
		}
		if v, ok := m[field]; ok {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// tail is the last n lines of log.
func tail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
