package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// soak is one run of the soak: the servers of its own, the binary, the writers' chain and
// what the loop did, to be checked at the end.
type soak struct {
	t      *testing.T
	rng    *rand.Rand
	bin    string
	logDir string
	env    []string
	fdb    *testenv.Private
	gw     *testenv.Private
	client *mongo.Client
	bucket *testenv.Bucket

	initial sample.State
	ballast string // digest of the ballast collection
	writers []*writerRun
	changes int

	pitr       *proc
	pitrKilled time.Time // when the soak last killed pitr with -9
	cycle, seq int
	procs      []*proc
	kills      map[string]int
	counts     map[string]int
	durations  map[string]time.Duration // of each command's last undisturbed run
	lastKill   time.Time
	restored   []loopRestore
	findings   []string
	notes      []string
}

// loopRestore is a restore of the loop that succeeded: what it restored, and what the
// target then held, compared at the end with the source at the backup's consistent point.
type loopRestore struct {
	cycle   int
	key     string
	end     bson.Timestamp
	got     sample.State
	ballast string
}

// TestSoak is the soak (make soak): SOAK_CYCLES cycles (none: skipped, as in make test),
// seeded by SOAK_SEED (printed; random when unset), logs of every process in SOAK_LOG_DIR
// (a new directory under the temp dir when unset, kept and printed).
func TestSoak(t *testing.T) {
	cycles, _ := strconv.Atoi(os.Getenv("SOAK_CYCLES"))
	if cycles <= 0 {
		t.Skip("the soak runs by make soak (SOAK_CYCLES=N, default 20); it is not part of make test")
	}
	seed := uint64(time.Now().UnixNano() % 1_000_000_000)
	if v := os.Getenv("SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED=%q: not a number", v)
		}
		seed = n
	}
	s := newSoak(t, seed)
	t.Logf("soak: %d cycles, SOAK_SEED=%d, logs in %s", cycles, seed, s.logDir)
	started := time.Now()
	for s.cycle = 1; s.cycle <= cycles; s.cycle++ {
		s.runCycle(cycles)
	}
	s.cycle = cycles + 1 // the final checks' logs sort after the loop's
	s.finalChecks()
	s.report(cycles, seed, time.Since(started))
}

func newSoak(t *testing.T, seed uint64) *soak {
	s := &soak{t: t, rng: rand.New(rand.NewPCG(seed, 22)), kills: map[string]int{}, counts: map[string]int{}, durations: map[string]time.Duration{}}
	s.logDir = os.Getenv("SOAK_LOG_DIR")
	if s.logDir == "" {
		dir, err := os.MkdirTemp("", fmt.Sprintf("mongostash-soak-%d-", seed))
		if err != nil {
			t.Fatal(err)
		}
		s.logDir = dir
	} else if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.bin = soakBinary(t)
	var url, endpoint string
	s.fdb, url = testenv.PrivateFerretDB(t)
	s.gw, endpoint = testenv.PrivateVersityGW(t)
	bucket, err := testenv.CreateBucket(endpoint, fmt.Sprintf("soak-%d", seed))
	if err != nil {
		t.Fatal(err)
	}
	s.bucket = bucket
	s.client = testenv.ConnectMongo(t, url).Client
	s.prepareSource()
	s.env = []string{"MONGO_URL=" + url, "MONGO_DATABASE=" + sourceDB, "LOG_FORMAT=json",
		"S3_ENDPOINT=" + bucket.Endpoint, "S3_BUCKET=" + bucket.Name, "S3_ACCESS_KEY=" + bucket.AccessKey,
		"S3_SECRET_KEY=" + bucket.SecretKey, "S3_REGION=" + bucket.Region, "S3_PART_SIZE=5242880",
		"BACKUP_OPLOG=true", "PITR_INTERVAL=5s", "PITR_POLL=1s", "PITR_LEASE_TTL=" + pitrLeaseTTL.String(),
		// prune keeps the six newest backups, deletes incomplete objects a minute old, and
		// never stops for staleness (the soak's backups are seconds apart).
		"S3_BACKUP_MAX_AGE=1", "PRUNE_KEEP_LAST=6", "PRUNE_MAX_STALENESS=0", "PRUNE_INCOMPLETE_GRACE=1m"}
	return s
}

// pitrLeaseTTL is pitr's lease in the soak: short, since a pitr killed with -9 holds the
// prefix that long.
const pitrLeaseTTL = 10 * time.Second

// soakBinary is MONGOSTASH_BINARY (make soak passes make build's), else a build of its own.
func soakBinary(t *testing.T) string {
	if b := os.Getenv("MONGOSTASH_BINARY"); b != "" {
		return b
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "mongostash")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mongostash")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build mongostash: %v\n%s", err, out)
	}
	return bin
}

// prepareSource makes local.oplog.rs (FerretDB v1 logs writes once it exists), the
// writers' collections and the ballast.
func (s *soak) prepareSource() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := s.client.Database("local").RunCommand(ctx, bson.D{{Key: "create", Value: "oplog.rs"},
		{Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 30)}}).Err(); err != nil {
		s.t.Fatalf("create local.oplog.rs: %v", err)
	}
	var err error
	if s.initial, err = sample.PrepareWriterCollections(ctx, s.client, sourceDB, writerColls...); err != nil {
		s.t.Fatal(err)
	}
	if s.ballast, err = loadBallast(ctx, s.client); err != nil {
		s.t.Fatal(err)
	}
}

// finding records a failure of the system under soak, with the cycle it happened in.
func (s *soak) finding(format string, args ...any) {
	msg := fmt.Sprintf("cycle %d: ", s.cycle) + fmt.Sprintf(format, args...)
	s.findings = append(s.findings, msg)
	s.t.Log("FINDING " + msg)
}

func (s *soak) note(format string, args ...any) {
	msg := fmt.Sprintf("cycle %d: ", s.cycle) + fmt.Sprintf(format, args...)
	s.notes = append(s.notes, msg)
	s.t.Log("note " + msg)
}

func (s *soak) sleep(min, max time.Duration) {
	time.Sleep(min + time.Duration(s.rng.Int64N(int64(max-min)+1)))
}

func (s *soak) report(cycles int, seed uint64, took time.Duration) {
	kinds := make([]string, 0, len(s.kills))
	total := 0
	for k, n := range s.kills {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(kinds)
	var done []string
	for k, n := range s.counts {
		done = append(done, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(done)
	s.t.Logf("soak summary: SOAK_SEED=%d, %d cycles in %s, %d writer changes; kills (SIGKILL): %d — %s; runs: %s; logs in %s",
		seed, cycles, took.Round(time.Second), s.changes, total, strings.Join(kinds, ", "), strings.Join(done, ", "), s.logDir)
	for _, n := range s.notes {
		s.t.Log("note: " + n)
	}
	for _, f := range s.findings {
		s.t.Error(f)
	}
	if len(s.findings) == 0 {
		s.t.Logf("soak: no findings")
	}
}
