package soak

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump"
)

// fault is what the soak does to a running command.
type fault int

const (
	noFault   fault = iota
	killSelf        // SIGKILL the command
	killS3          // SIGKILL versitygw, start it again a few seconds later
	killMongo       // SIGKILL FerretDB (the writer halted first), start it again
)

func (f fault) String() string {
	return [...]string{"none", "kill -9 of the command", "kill -9 of S3", "kill -9 of MongoDB"}[f]
}

// pickFault draws what happens to the next command.
func (s *soak) pickFault() fault {
	switch x := s.rng.Float64(); {
	case x < 0.30:
		return killSelf
	case x < 0.45:
		return killS3
	case x < 0.55:
		return killMongo
	}
	return noFault
}

// runCycle is one cycle: a backup, often a restore, sometimes a prune and a pitr kill,
// each perhaps under a fault, with the writer and pitr running throughout.
func (s *soak) runCycle(cycles int) {
	s.t.Logf("cycle %d/%d", s.cycle, cycles)
	s.startWriter()
	s.ensurePitr()
	s.sleep(time.Second, 3*time.Second)
	s.backup()
	if s.rng.Float64() < 0.6 {
		s.startWriter()
		s.restore()
	}
	if s.rng.Float64() < 0.4 {
		s.startWriter()
		s.prune()
	}
	if s.rng.Float64() < 0.2 {
		s.ensurePitr()
		s.pitr.kill9()
		s.pitrKilled = time.Now()
		s.killed("pitr")
	}
}

// leaseOfAKilledPitr says whether p, a pitr, exited 1 at its start because the lease of a
// pitr this soak killed with -9 had not expired yet.
func (s *soak) leaseOfAKilledPitr(p *proc) bool {
	return p.code == 1 && strings.Contains(p.log(), "holds the lease") &&
		p.began.Sub(s.pitrKilled) < pitrLeaseTTL+30*time.Second
}

func (s *soak) killed(what string) {
	s.kills[what]++
	s.lastKill = time.Now()
	s.t.Logf("cycle %d: kill -9 of %s", s.cycle, what)
}

// underFault runs a command, applying f at a random moment within its first maxDelay;
// it returns the process and whether f was applied while it ran.
func (s *soak) underFault(name string, f fault, maxDelay time.Duration, args ...string) (*proc, bool) {
	return s.underFaultWhen(name, f, maxDelay, nil, args...)
}

// underFaultWhen is underFault whose moment is counted from when ready (polled) first
// holds, when ready is not nil.
func (s *soak) underFaultWhen(name string, f fault, maxDelay time.Duration, ready func() bool, args ...string) (*proc, bool) {
	if f == killMongo {
		s.haltWriter() // before the kill: its changes must be known, and it must not see errors
	}
	// The moment: within the command's last undisturbed duration, so that a fault lands
	// while it works (maxDelay before one is known).
	if d, ok := s.durations[name]; ok && ready == nil {
		maxDelay = d + d/5
	}
	p := s.start(name, nil, args...)
	for ready != nil && !p.exited() && !ready() {
		time.Sleep(20 * time.Millisecond)
	}
	delay := time.Duration(s.rng.Int64N(int64(maxDelay) + 1))
	select {
	case <-p.done:
		return p, false
	case <-time.After(delay):
	}
	if f == noFault || p.exited() {
		return p, false
	}
	switch f {
	case killSelf:
		p.kill9()
		s.killed(name)
	case killS3:
		s.gw.Kill()
		s.killed("S3 (versitygw)")
		s.sleep(time.Second, 8*time.Second)
		s.gw.Start()
	case killMongo:
		s.fdb.Kill()
		s.killed("MongoDB (FerretDB v1)")
		s.sleep(time.Second, 5*time.Second)
		s.fdb.Start()
	}
	return p, true
}

// finishRun waits for a command run under a fault and judges its exit: a failure is a
// finding only when nothing was done to it.
func (s *soak) finishRun(p *proc, f fault, applied bool) bool {
	code, hung := p.wait(processLimit)
	name := strings.Fields(p.name)[0]
	s.counts[name]++
	took := p.ended.Sub(p.began)
	if code == 0 && !applied {
		s.durations[name] = took // an undisturbed run: the next fault's range
	}
	s.t.Logf("cycle %d: %s exit %d in %s (fault: %s, applied: %v)", s.cycle, p.name, code, took.Round(100*time.Millisecond), f, applied)
	switch {
	case hung:
		s.finding("%s hung (%s applied: %v) and was killed after %s; last lines:\n%s", p.name, f, applied, processLimit, tail(p.log(), 8))
	case code != 0 && !applied:
		s.finding("%s failed with exit %d and no fault; last lines:\n%s", p.name, code, tail(p.log(), 8))
	case code != 0 && f != killSelf:
		s.t.Logf("cycle %d: %s exited %d under %s: %s", s.cycle, p.name, code, f, lastError(p.log()))
	}
	return code == 0 && !hung
}

func (s *soak) backup() {
	f := s.pickFault()
	p, applied := s.underFault("backup", f, 4*time.Second, "backup")
	if s.finishRun(p, f, applied) {
		s.counts["backups stored"]++
	}
}

// restore restores a random complete backup into the loop's target with --drop, and
// checks that no temporary collection is left in it when it succeeds.
func (s *soak) restore() {
	backups := s.completeBackups()
	if len(backups) == 0 {
		return
	}
	b := backups[s.rng.IntN(len(backups))]
	// A third of them with the ballast's 6.5 MiB, so that kills land mid-batch (not all:
	// each adds its size to the oplog, which FerretDB v1 reads whole at every query).
	s.restoreUnder(b, s.pickFault(), s.rng.IntN(3) == 0)
}

// restoreUnder restores b into the loop's target under f.
func (s *soak) restoreUnder(b listedBackup, f fault, withBallast bool) {
	args := []string{"restore", b.Key, "--drop", "--ns-from", sourceDB + ".*", "--ns-to", loopTargetDB + ".*"}
	if !withBallast {
		args = append(args, "--ns-exclude", sourceDB+"."+ballastColl)
	}
	// A kill of the restore itself lands within half a second of its first insert into a
	// temporary collection: mid-batch, the case of issue 22.
	var ready func() bool
	if f == killSelf {
		ready = func() bool { return s.hasTemporary(loopTargetDB) }
	}
	maxDelay := 4 * time.Second
	if ready != nil {
		maxDelay = 500 * time.Millisecond
	}
	p, applied := s.underFaultWhen("restore", f, maxDelay, ready, args...)
	if !s.finishRun(p, f, applied) {
		if f == killSelf && applied && s.rng.IntN(10) < 7 {
			// The next restore at once, while the killed one's last inserts may still run
			// on the server (the case of issue 22): it must leave no temporary behind.
			s.restoreUnder(b, noFault, withBallast)
		}
		return
	}
	s.counts["restores succeeded"]++
	s.noTemporaries(loopTargetDB, "after a successful restore ("+p.name+")")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := readState(ctx, s.client, loopTargetDB)
	if err != nil {
		s.t.Fatalf("read %s: %v", loopTargetDB, err)
	}
	r := loopRestore{cycle: s.cycle, key: b.Key, end: b.end(), got: got}
	if withBallast {
		if r.ballast, err = collectionDigest(ctx, s.client, loopTargetDB, ballastColl); err != nil {
			s.t.Fatal(err)
		}
	}
	s.restored = append(s.restored, r)
}

func (s *soak) prune() {
	f := s.pickFault()
	if f == killMongo {
		f = killS3 // prune does not talk to MongoDB
	}
	p, applied := s.underFault("prune", f, 2*time.Second, "prune")
	s.finishRun(p, f, applied)
}

// ensurePitr starts pitr unless it runs; a pitr that exited by itself is a finding.
func (s *soak) ensurePitr() {
	if s.pitr != nil && !s.pitr.exited() {
		return
	}
	switch {
	case s.pitr != nil && s.pitr.killed:
	case s.pitr != nil && s.leaseOfAKilledPitr(s.pitr):
		// A pitr killed with -9 holds the prefix until its lease expires: the next one is
		// refused meanwhile (exit 1, naming the holder), as a restarted pod is.
		s.counts["pitr refused: a killed pitr's lease"]++
	case s.pitr != nil:
		s.finding("%s exited by itself with %d; last lines:\n%s", s.pitr.name, s.pitr.code, tail(s.pitr.log(), 8))
	}
	s.pitr = s.start("pitr", nil, "pitr")
	s.counts["pitr starts"]++
}

// stopPitr sends SIGTERM: pitr must store what it read and exit 0.
func (s *soak) stopPitr() {
	if s.pitr == nil || s.pitr.exited() {
		s.ensurePitr()
		time.Sleep(10 * time.Second)
	}
	_ = s.pitr.cmd.Process.Signal(syscall.SIGTERM)
	code, hung := s.pitr.wait(5 * time.Minute)
	s.pitr.killed = true // stopped on purpose: not an exit by itself
	switch {
	case hung:
		s.finding("%s did not exit within 5 minutes of SIGTERM; last lines:\n%s", s.pitr.name, tail(s.pitr.log(), 8))
	case code != 0:
		s.finding("%s exited %d on SIGTERM (want 0); last lines:\n%s", s.pitr.name, code, tail(s.pitr.log(), 8))
	}
}

// hasTemporary reports a temporary collection with documents in db.
func (s *soak) hasTemporary(db string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	names, _ := s.client.Database(db).ListCollectionNames(ctx, bson.D{})
	for _, n := range names {
		if dump.IsTemporary(n) {
			if c, _ := s.client.Database(db).Collection(n).CountDocuments(ctx, bson.D{}); c > 0 {
				return true
			}
		}
	}
	return false
}

// noTemporaries records a finding for every temporary collection in db.
func (s *soak) noTemporaries(db, when string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	names, err := s.client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		s.t.Fatalf("list %s: %v", db, err)
	}
	for _, n := range names {
		switch {
		case dump.IsTemporary(n):
			s.finding("temporary collection %s.%s left %s", db, n, when)
		case dump.IsAside(n):
			s.note("collection %s.%s moved aside by a killed restore is left %s (by design: it may hold the only copy of what it replaced)", db, n, when)
		}
	}
}

// listedBackup is an entry of list --json.
type listedBackup struct {
	Key      string `json:"key"`
	Complete bool   `json:"complete"`
	State    string `json:"state"`
	Oplog    *struct {
		End struct {
			T uint32 `json:"t"`
			I uint32 `json:"i"`
		} `json:"end"`
	} `json:"oplog"`
}

func (b listedBackup) end() bson.Timestamp {
	if b.Oplog == nil {
		return bson.Timestamp{}
	}
	return bson.Timestamp{T: b.Oplog.End.T, I: b.Oplog.End.I}
}

// completeBackups are the backups list --json shows complete.
func (s *soak) completeBackups() []listedBackup {
	p, code := s.run("list", nil, "list", "--json")
	if code != 0 {
		s.finding("%s failed with %d: %s", p.name, code, lastError(p.log()))
		return nil
	}
	var all []listedBackup
	if err := json.Unmarshal(p.output(), &all); err != nil {
		s.t.Fatalf("list --json: %v\n%s", err, p.log())
	}
	var out []listedBackup
	for _, b := range all {
		if b.Complete {
			if b.Oplog == nil {
				s.finding("backup %s is complete but has no oplog range (every soak backup is taken with --oplog)", b.Key)
				continue
			}
			out = append(out, b)
		}
	}
	return out
}

// lastError is the msg of the last ERROR line.
func lastError(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) == nil && m["level"] == "ERROR" {
			msg, _ := m["msg"].(string)
			return msg
		}
	}
	return tail(log, 1)
}
