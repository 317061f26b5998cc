package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/stream"
)

// damagedBed is a bed with one good gzip backup, and live data changed since (so that
// "unchanged" and "restored" differ).
type damagedBed struct {
	*bed
	good     string           // key of the good backup
	data     []byte           // its bytes
	manifest catalog.Manifest // its manifest
	before   snapshot
	next     time.Time // the time of the next damaged backup's name: each newer than the last
}

func newDamagedBed(t *testing.T) *damagedBed {
	t.Helper()
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 1200); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env.with("BACKUP_COMPRESSION", "gzip"), "backup")
	d := &damagedBed{bed: b, good: onlyBackupKey(t, b)}
	d.data = getObject(t, b, d.good)
	d.manifest = readManifest(t, b, d.good)
	d.next = d.manifest.StartedAt.Add(time.Minute)
	if _, err := b.mongo.Client.Database(b.mongo.DB).Collection("users").InsertOne(context.Background(), bson.D{{Key: "_id", Value: "after-backup"}}); err != nil {
		t.Fatal(err)
	}
	d.before = takeSnapshot(t, b.mongo.Client, b.mongo.DB)
	return d
}

// put stores data under a new backup key, newer than every one before, with manifest m
// (none when nil), and returns the key.
func (d *damagedBed) put(t *testing.T, comp stream.Compression, data []byte, m *catalog.Manifest) string {
	t.Helper()
	key := catalog.BackupKey("", d.next, comp, stream.Unencrypted)
	d.next = d.next.Add(time.Minute)
	putObject(t, d.bed, key, data)
	if m != nil {
		putManifest(t, d.bed, key, *m)
	}
	return key
}

// manifestOf returns the good manifest, changed to describe data exactly.
func (d *damagedBed) manifestOf(data []byte, comp stream.Compression) *catalog.Manifest {
	m := d.manifest
	m.Compression = comp
	m.Size = int64(len(data))
	sum := sha256.Sum256(data)
	m.SHA256 = hex.EncodeToString(sum[:])
	m.Namespaces = append([]catalog.ManifestNamespace(nil), d.manifest.Namespaces...)
	return &m
}

// refused runs a restore --drop (and a dry run, and a verify) of key and checks each fails
// saying every one of want, and that the database is unchanged.
func (d *damagedBed) refused(t *testing.T, key string, want ...string) {
	t.Helper()
	for _, args := range [][]string{
		// The dotted audit.log is left out: FerretDB cannot rename it.
		{"restore", "--drop", "--ns-exclude", "*.audit.log", key},
		{"restore", "--dry-run", key},
		{"verify", key},
	} {
		r := runCLI(t, d.env, args...)
		if r.code != 1 {
			t.Errorf("%v: want exit 1, got %s", args, r)
			continue
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: the message does not say %q: %s", args, w, errorLine(r.stderr))
			}
		}
		t.Logf("%s %s: %s", args[0], args[1], errorLine(r.stderr))
	}
	compareSnapshots(t, takeSnapshot(t, d.mongo.Client, d.mongo.DB), d.before)
}

// TestFaultDamagedBackups: every kind of damaged backup is refused by restore (with
// --drop, with --dry-run) and verify, with a message that says what is wrong — naming the
// manifest when the manifest and the object disagree — and the database is left as it was.
func TestFaultDamagedBackups(t *testing.T) {
	d := newDamagedBed(t)
	half := d.data[:len(d.data)/2]

	t.Run("0-byte object", func(t *testing.T) {
		key := d.put(t, stream.Zstd, nil, nil)
		d.refused(t, key, key, "empty stream")
		// Restoring "the latest" skips it — saying so — for the newest restorable one (this
		// runs first: the damaged backups below would be newer and restorable by their names
		// and manifests).
		r := mustRun(t, d.env, "restore", "--dry-run")
		if !strings.Contains(r.stderr, "skipping a newer backup that cannot be restored") || !strings.Contains(r.stderr, key) {
			t.Errorf("restore of the latest does not say it skipped %s:\n%s", key, r.stderr)
		}
	})
	t.Run("zstd garbage", func(t *testing.T) {
		garbage := append([]byte{0x28, 0xB5, 0x2F, 0xFD}, make([]byte, 64<<10)...)
		_, _ = rand.Read(garbage[4:])
		key := d.put(t, stream.Zstd, garbage, d.manifestOf(garbage, stream.Zstd))
		d.refused(t, key, key, "zstd")
	})
	t.Run("gzip truncated at 50%, manifest of the whole", func(t *testing.T) {
		m := d.manifest
		key := d.put(t, stream.Gzip, half, &m)
		d.refused(t, key, "is not the backup its manifest describes", catalog.ManifestKey(key), "records")
		r := mustRun(t, d.env, "list")
		if !strings.Contains(r.stdout, "SIZE MISMATCH") {
			t.Errorf("list does not call the backup a size mismatch:\n%s", r.stdout)
		}
	})
	t.Run("gzip truncated at 50%, manifest of the half", func(t *testing.T) {
		key := d.put(t, stream.Gzip, half, d.manifestOf(half, stream.Gzip))
		d.refused(t, key, key, "unexpected EOF")
	})
	t.Run("manifest with a wrong SHA-256", func(t *testing.T) {
		m := d.manifestOf(d.data, stream.Gzip)
		m.SHA256 = strings.Repeat("0", 64)
		key := d.put(t, stream.Gzip, d.data, m)
		d.refused(t, key, "does not match its manifest "+catalog.ManifestKey(key), "SHA-256")
	})
	t.Run("manifest with a wrong size", func(t *testing.T) {
		m := d.manifestOf(d.data, stream.Gzip)
		m.Size++
		key := d.put(t, stream.Gzip, d.data, m)
		d.refused(t, key, "is not the backup its manifest describes", catalog.ManifestKey(key))
	})
	t.Run("manifest with a wrong document count", func(t *testing.T) {
		m := d.manifestOf(d.data, stream.Gzip)
		m.Namespaces[0].Documents++
		key := d.put(t, stream.Gzip, d.data, m)
		d.refused(t, key, "does not match its manifest "+catalog.ManifestKey(key), "documents, manifest says")
	})
	t.Run("local file truncated at 50%", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "half.gz")
		if err := os.WriteFile(file, half, 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, d.env, "restore", "--drop", "--ns-exclude", "*.audit.log", "--from", file)
		if r.code != 1 || !strings.Contains(r.stderr, "unexpected EOF") || !strings.Contains(r.stderr, "existing collections are unchanged") {
			t.Errorf("want exit 1, unexpected EOF, nothing replaced; got %s", r)
		}
		compareSnapshots(t, takeSnapshot(t, d.mongo.Client, d.mongo.DB), d.before)
	})
}

// TestFaultNothingToRestore: a restore whose scope matches nothing in the backup fails
// (exit 1), naming what the backup holds and what to check, instead of "collections=0".
func TestFaultNothingToRestore(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 50); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env, "backup")
	r := runCLI(t, b.env.with("MONGO_DATABASE", "nosuchdb"), "restore")
	if r.code != 1 || !strings.Contains(r.stderr, "nothing in the archive matches") || !strings.Contains(r.stderr, b.mongo.DB) || !strings.Contains(r.stderr, "check MONGO_DATABASE") {
		t.Errorf("want exit 1 saying nothing matches and what the backup holds, got %s", r)
	}
}

// TestFaultTwoBackupsAtOnce: two backups started in the same second get distinct keys and
// both complete.
func TestFaultTwoBackupsAtOnce(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 2000); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = startBin(t, b.env, "backup").wait(3 * time.Minute)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("backup %d: %s", i, r)
		}
	}
	var list []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, b.env, "list", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key == list[1].Key || !list[0].Complete || !list[1].Complete {
		t.Fatalf("want two complete backups with distinct keys, got %+v", list)
	}
	t.Logf("keys: %s, %s", list[0].Key, list[1].Key)
}

// TestFaultPruneKeepsFinishingBackup: an object of ours without a manifest, stored just now
// (a backup between its upload and its manifest), survives a prune whose max age it
// exceeds by far, with the reason in the plan.
func TestFaultPruneKeepsFinishingBackup(t *testing.T) {
	b := newBed(t)
	old := catalog.BackupKey("", time.Now().Add(-72*time.Hour), stream.None, stream.Unencrypted)
	putObject(t, b, old, []byte("complete"))
	manifestFor(t, b, old, []byte("complete"), time.Now().Add(-72*time.Hour))
	finishing := catalog.BackupKey("", time.Now().Add(-48*time.Hour), stream.Zstd, stream.Unencrypted)
	putObject(t, b, finishing, []byte("uploaded, manifest not yet written"))
	r := mustRun(t, b.env.with("S3_BACKUP_MAX_AGE", "3600", "PRUNE_MAX_STALENESS", "0"), "prune", "--json")
	var plan []planEntry
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	for _, e := range plan {
		if e.Key == finishing && (e.Action != "keep" || !strings.Contains(strings.Join(e.Reasons, ";"), "no manifest yet")) {
			t.Errorf("the finishing backup: %+v", e)
		}
	}
	if keys := strings.Join(listKeys(t, b), " "); !strings.Contains(keys, finishing) {
		t.Errorf("prune deleted the finishing backup: %s", keys)
	}
}

// TestFaultPruneWhileBackupUploads runs prunes with a one-second max age, one after the
// other, for as long as a backup runs: the backup must end complete and whole. (The window
// between upload and manifest is short, so a run may not hit it; TestFaultPruneKeeps-
// FinishingBackup and catalog's TestSealBackupObjectGone prove the two defences.)
func TestFaultPruneWhileBackupUploads(t *testing.T) {
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 20000); err != nil {
		t.Fatal(err)
	}
	mustRun(t, b.env, "backup") // a complete backup, so that prune has something to keep
	bk := startBin(t, b.env.with("BACKUP_COMPRESSION", "none"), "backup", "--s3-part-size", "5242880")
	pruneEnv := b.env.with("S3_BACKUP_MAX_AGE", "1", "PRUNE_MAX_STALENESS", "0")
	prunes := 0
	for !bk.waitLog("backup complete", 0) && !bk.waitLog(`"level":"ERROR"`, 0) {
		runCLI(t, pruneEnv, "prune")
		prunes++
	}
	r := bk.wait(time.Minute)
	if r.code != 0 {
		t.Fatalf("the backup failed under concurrent prunes: %s", r)
	}
	mustRun(t, b.env, "verify", "latest")
	t.Logf("%d prunes ran during the backup", prunes)
}

// TestFaultLocalTargetFull: a backup to a local directory on a full filesystem (a 1 MiB
// tmpfs in a private mount namespace) fails cleanly: exit 1, "no space left on device",
// and nothing in the directory — no partial file, no temporary file.
func TestFaultLocalTargetFull(t *testing.T) {
	if err := exec.Command("unshare", "-r", "-m", "true").Run(); err != nil {
		t.Skipf("cannot mount a small filesystem here (unshare -r -m: %v): this needs user namespaces, which the kernel or container refuses", err)
	}
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 20000); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := `mount -t tmpfs -o size=1m tmpfs "$DIR" || exit 99
"$BIN" backup; rc=$?
echo "LEFT:$(ls -A "$DIR" | tr '\n' ' ')" >&2
exit $rc`
	cmd := exec.Command("unshare", "-r", "-m", "sh", "-c", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DIR=" + dir, "BIN=" + mongostashBinary(t),
		"MONGO_URL=" + b.mongo.URL, "MONGO_DATABASE=" + b.mongo.DB, "BACKUP_DIR=" + dir,
		"BACKUP_COMPRESSION=none", "LOG_FORMAT=json"}
	r := collect(t, cmd)
	if r.code == 99 {
		t.Skipf("cannot mount a tmpfs in the namespace: %s", r.stderr)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "nothing was stored") {
		t.Errorf("want exit 1, no space left, nothing stored; got %s", r)
	}
	i := strings.LastIndex(r.stderr, "LEFT:")
	if i < 0 {
		t.Fatalf("the script did not list the directory:\n%s", r.stderr)
	}
	if left := strings.TrimSpace(r.stderr[i+len("LEFT:"):]); left != "" {
		t.Errorf("files left in the full directory: %s", left)
	}
	t.Logf("error: %s", errorLine(r.stderr))
}

// TestFaultSecretsAtDebug: every subcommand at --log-level debug, with wrong secrets, and
// once with right ones, never prints a password or key — checked in everything it wrote.
func TestFaultSecretsAtDebug(t *testing.T) {
	const mongoPassword, s3Secret = "Mongo-Pa55-Sekrit", "S3-Sekrit-Key-0123"
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 50); err != nil {
		t.Fatal(err)
	}
	withPassword := strings.Replace(b.mongo.URL, "mongodb://", "mongodb://backup:"+mongoPassword+"@", 1)
	debug := b.env.with("LOG_LEVEL", "debug", "MONGO_URL", withPassword, "MONGO_TIMEOUT", "3s")
	wrong := debug.with("S3_SECRET_KEY", s3Secret)
	secrets := []string{mongoPassword, s3Secret, b.bucket.SecretKey}
	for _, args := range [][]string{{"backup"}, {"restore"}, {"prune"}, {"list"}, {"verify"}, {"restore", "--dry-run"}} {
		for name, e := range map[string]env{"wrong S3 secret": wrong, "right S3 secret": debug} {
			r := runCLI(t, e, args...)
			if name == "wrong S3 secret" && r.code == 0 {
				t.Errorf("%v with a wrong secret succeeded", args)
			}
			for _, s := range secrets {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("%v, %s: the output holds a secret:\n%s", args, name, r)
				}
			}
		}
	}
}
