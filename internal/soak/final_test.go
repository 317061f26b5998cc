package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// finalChecks stops the writer and pitr and checks what the issue asks after a soak.
func (s *soak) finalChecks() {
	s.t.Logf("final checks")
	s.haltWriter()
	s.ensurePitr()
	time.Sleep(15 * time.Second) // a few rounds: pitr reads up to the writer's last change
	s.stopPitr()
	s.nextRestore()
	s.checkLoopRestores()
	s.checkBackups()
	s.checkWindows()
	s.checkAllTemporaries()
	s.checkStaleUploads()
}

// nextRestore is the restore after the loop's last one, which may have been killed and
// left its temporaries: like every restore after a killed one, it must clear them (and
// whatever the killed one's inserts still create) and leave none.
func (s *soak) nextRestore() {
	backups := s.completeBackups()
	if len(backups) == 0 {
		s.finding("no complete backup after the loop")
		return
	}
	n := len(s.restored)
	s.restoreUnder(backups[len(backups)-1], noFault, true)
	if len(s.restored) == n {
		s.finding("the restore after the loop failed")
	}
}

// checkLoopRestores compares what each successful restore of the loop left in its target
// with the source at that backup's consistent point.
func (s *soak) checkLoopRestores() {
	for _, r := range s.restored {
		if d := diffStates(r.got, s.stateAt(r.end)); d != "" {
			s.finding("the restore of %s in cycle %d does not hold the database at its consistent point %d,%d: %s", r.key, r.cycle, r.end.T, r.end.I, d)
		}
		if r.ballast != "" && r.ballast != s.ballast {
			s.finding("the restore of %s in cycle %d: the ballast collection differs: %s, want %s", r.key, r.cycle, r.ballast, s.ballast)
		}
	}
	s.t.Logf("final: %d restores of the loop compared", len(s.restored))
}

// checkBackups: every backup list shows complete verifies and restores (ballast included)
// to exactly the source at its consistent point.
func (s *soak) checkBackups() {
	backups := s.completeBackups()
	for _, b := range backups {
		if p, code := s.run("verify", nil, "verify", b.Key); code != 0 {
			s.finding("%s of a complete backup failed with %d: %s", p.name, code, lastError(p.log()))
		}
		s.restoreAndCompare("backup "+b.Key, b.end(), b.Key)
	}
	s.t.Logf("final: %d complete backups verified and restored", len(backups))
}

// restoreAndCompare restores into the check database (what of args: a key, or
// --to-time) and compares it with the source at ts.
func (s *soak) restoreAndCompare(what string, ts bson.Timestamp, args ...string) {
	args = append(append([]string{"restore"}, args...), "--drop", "--ns-from", sourceDB+".*", "--ns-to", checkTargetDB+".*")
	p, code := s.run("restore", nil, args...)
	if code != 0 {
		s.finding("%s: %s failed with %d: %s", what, p.name, code, lastError(p.log()))
		return
	}
	s.counts["final restores"]++
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := readState(ctx, s.client, checkTargetDB)
	if err != nil {
		s.t.Fatal(err)
	}
	if d := diffStates(got, s.stateAt(ts)); d != "" {
		s.finding("%s (%s) does not give the database at %d,%d: %s", what, p.name, ts.T, ts.I, d)
	}
	if dg, err := collectionDigest(ctx, s.client, checkTargetDB, ballastColl); err != nil || dg != s.ballast {
		s.finding("%s (%s): the ballast collection differs: %s, want %s (%v)", what, p.name, dg, s.ballast, err)
	}
	s.noTemporaries(checkTargetDB, "after "+what)
}

// window is an entry of list --windows --json.
type window struct {
	From struct{ T, I uint32 } `json:"from"`
	To   struct{ T, I uint32 } `json:"to"`
	Base string                `json:"base"`
}

// checkWindows restores to points inside each recovery window: its start, its end and a
// point between, drawn from the seed, and compares with the source at that point.
func (s *soak) checkWindows() {
	p, code := s.run("list", nil, "list", "--windows", "--json")
	if code != 0 {
		s.finding("%s failed with %d: %s", p.name, code, lastError(p.log()))
		return
	}
	var rep struct {
		Windows []window `json:"windows"`
	}
	if err := json.Unmarshal(p.output(), &rep); err != nil {
		s.t.Fatalf("list --windows --json: %v\n%s", err, p.output())
	}
	if len(rep.Windows) == 0 {
		s.finding("no recovery window after the soak (%s)", p.name)
	}
	for i, w := range rep.Windows {
		from, to := bson.Timestamp{T: w.From.T, I: w.From.I}, bson.Timestamp{T: w.To.T, I: w.To.I}
		targets := []bson.Timestamp{from, to}
		if to.T > from.T+1 {
			targets = append(targets, bson.Timestamp{T: from.T + 1 + uint32(s.rng.IntN(int(to.T-from.T-1))), I: uint32(s.rng.IntN(40))})
		}
		if i < len(rep.Windows)-2 {
			targets = targets[2:] // older windows: one point each, to bound the time
		}
		for _, ts := range targets {
			s.restoreAndCompare(fmt.Sprintf("restore --to-time %d,%d (window %d of %d, base %s)", ts.T, ts.I, i+1, len(rep.Windows), w.Base),
				ts, "--to-time", fmt.Sprintf("%d,%d", ts.T, ts.I))
		}
	}
	s.t.Logf("final: %d recovery windows", len(rep.Windows))
}

// checkAllTemporaries: no temporary collection in any database.
func (s *soak) checkAllTemporaries() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dbs, err := s.client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, db := range dbs {
		s.noTemporaries(db, "at the end")
	}
}

// checkStaleUploads: once every upload the kills left is more than a minute old, prune
// --abort-stale-uploads --stale-upload-age 1m leaves none.
func (s *soak) checkStaleUploads() {
	before := s.multipartUploads()
	time.Sleep(time.Until(s.lastKill.Add(65 * time.Second)))
	p, code := s.run("prune", []string{"PRUNE_STALE_UPLOAD_AGE=1m"}, "prune", "--abort-stale-uploads")
	if code != 0 {
		s.finding("%s failed with %d: %s", p.name, code, lastError(p.log()))
	}
	after := s.multipartUploads()
	if after != 0 {
		s.finding("%d multipart uploads left after %s (%d before)", after, p.name, before)
	}
	s.t.Logf("final: %d multipart uploads before prune --abort-stale-uploads, %d after", before, after)
	s.counts["stale uploads aborted"] = before - after
}

func (s *soak) multipartUploads() int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.bucket.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket.Name)})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(out.Uploads)
}
