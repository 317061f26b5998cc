package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The machine's CPU while a run ran: the two cores are shared by the database server, the
// object store and the tool measured, so a run's wall time is bounded by everyone's CPU
// together. Each run records how much CPU the machine spent in all (/proc/stat), and how
// much of it went to the server's and the store's processes (/proc/PID/stat, by process
// name, with their ended children) — which shows when a side is slower because the server was saturated rather than
// because the tool waited.

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux architecture Go
// builds for (the kernel converts its own tick rate to it).
const userHZ = 100

// serverProcs and storeProcs name the processes of the test servers, by /proc's comm.
var (
	serverProcs = map[string]bool{"postgres": true, "ferretdb": true, "mongod": true}
	storeProcs  = map[string]bool{"versitygw": true, "node": true, "fake-gcs-server": true}
)

// machineCPU is a snapshot of the machine's CPU counters, in USER_HZ ticks.
type machineCPU struct {
	total int64 // every CPU's busy time (not idle, not iowait)
	procs map[int]procCPU
}

// procCPU is a server's or store's process: its own CPU (utime+stime) and its ended and
// reaped children's (cutime+cstime: PostgreSQL's postmaster holds its finished backends').
type procCPU struct {
	own, children int64
	ppid          int
	server        bool // else a store's
}

// cpuUse is what the machine spent between two snapshots.
type cpuUse struct {
	machine, server, store time.Duration
}

func snapshotCPU() machineCPU {
	m := machineCPU{procs: map[int]procCPU{}}
	if raw, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(raw), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
		for i, v := range f {
			n, _ := strconv.ParseInt(v, 10, 64)
			if i >= 1 && i <= 8 && i != 4 && i != 5 {
				m.total += n
			}
		}
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(raw)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		comm := s[open+1 : close]
		if !serverProcs[comm] && !storeProcs[comm] {
			continue
		}
		// utime, stime, cutime, cstime: the 12th to 15th fields after comm.
		f := strings.Fields(s[close+1:])
		if len(f) < 15 {
			continue
		}
		var t [4]int64
		for i := range t {
			t[i], _ = strconv.ParseInt(f[11+i], 10, 64)
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		m.procs[pid] = procCPU{own: t[0] + t[1], children: t[2] + t[3], ppid: ppid, server: serverProcs[comm]}
	}
	return m
}

// since is the CPU spent from before to now. The server's and store's share is the growth
// of their processes' own and reaped children's CPU: a process that ended in between moved
// its CPU into its parent's children's time, so it is taken off at its value before when
// the parent is one of them and still runs (a PostgreSQL backend of a closed connection);
// when the parent is not (a store another test stopped), the process is left out. A
// process started in between counts from zero. Other servers and stores on the machine —
// another test's — count too.
func (before machineCPU) since() cpuUse {
	now := snapshotCPU()
	var server, store int64
	for _, p := range now.procs {
		if p.server {
			server += p.own + p.children
		} else {
			store += p.own + p.children
		}
	}
	for pid, p := range before.procs {
		if _, alive := now.procs[pid]; !alive {
			if parent, ok := now.procs[p.ppid]; !ok || parent.server != p.server {
				continue
			}
		}
		if p.server {
			server -= p.own + p.children
		} else {
			store -= p.own + p.children
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	return cpuUse{machine: tick(now.total - before.total), server: tick(server), store: tick(store)}
}

func (u cpuUse) add(v cpuUse) cpuUse {
	return cpuUse{machine: u.machine + v.machine, server: u.server + v.server, store: u.store + v.store}
}

// pinServer gives the database server's processes their own CPUs when
// MONGOSTASH_BENCH_SERVER_CPUS lists them (e.g. "0"), and every other CPU to this process —
// and so to the tools it runs and the store it starts, which inherit it. It emulates a
// server on a machine of its own: the floor (the raw scan) and every tool then have the
// same client CPUs, and a side is slower only by what it does, not by the CPU it takes from
// the server. It returns what it did, or "" when the variable is unset.
func pinServer() (string, error) {
	spec := os.Getenv("MONGOSTASH_BENCH_SERVER_CPUS")
	if spec == "" {
		return "", nil
	}
	var server, client unix.CPUSet
	if err := unix.SchedGetaffinity(0, &client); err != nil {
		return "", err
	}
	allCPUs = client
	for _, f := range strings.Split(spec, ",") {
		cpu, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || cpu < 0 || !client.IsSet(cpu) {
			return "", fmt.Errorf("MONGOSTASH_BENCH_SERVER_CPUS=%q: %q is not a CPU of this machine", spec, f)
		}
		server.Set(cpu)
		client.Clear(cpu)
	}
	if client.Count() == 0 {
		return "", fmt.Errorf("MONGOSTASH_BENCH_SERVER_CPUS=%q leaves no CPU for the benchmark", spec)
	}
	procs, threads := 0, 0
	for _, dir := range serverProcDirs() {
		n, err := setAffinity(dir, &server)
		if err != nil {
			return "", fmt.Errorf("pin the server's process %s: %w (pinning needs the right to change other users' processes)", filepath.Base(dir), err)
		}
		procs, threads = procs+1, threads+n
	}
	if procs == 0 {
		return "", fmt.Errorf("MONGOSTASH_BENCH_SERVER_CPUS is set but no server process (%v) runs on this machine", keys(serverProcs))
	}
	pinned = true
	if _, err := setAffinity("/proc/self", &client); err != nil {
		return "", err
	}
	return fmt.Sprintf("server's %d processes (%d threads) pinned to CPUs %s, %d other CPUs for the benchmark, its tools and the store",
		procs, threads, spec, client.Count()), nil
}

// allCPUs is this process's CPUs before pinServer; pinned says the server was pinned.
var (
	allCPUs unix.CPUSet
	pinned  bool
)

// unpinServer gives the server's processes every CPU again (a server the benchmarks did not
// start goes on running after them).
func unpinServer() {
	if !pinned {
		return
	}
	for _, dir := range serverProcDirs() {
		_, _ = setAffinity(dir, &allCPUs)
	}
}

// serverProcDirs are the /proc/PID directories of the server's processes.
func serverProcDirs() []string {
	var dirs []string
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range comms {
		if comm, err := os.ReadFile(p); err == nil && serverProcs[strings.TrimSpace(string(comm))] {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	return dirs
}

// setAffinity pins every thread of the process at dir (/proc/PID) to set; threads it
// starts later inherit it.
func setAffinity(dir string, set *unix.CPUSet) (int, error) {
	tasks, err := filepath.Glob(dir + "/task/[0-9]*")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range tasks {
		tid, _ := strconv.Atoi(filepath.Base(t))
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			return n, err
		}
		n++
	}
	return n, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
