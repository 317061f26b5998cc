package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// TestSettingsOutOfRangeRefused: every numeric and duration setting outside its range is
// refused before anything runs, with exit 2, naming the flag, its variable and the range
// (issue 22's list of values that used to be taken silently). Nothing reaches a server or
// the backup directory.
func TestSettingsOutOfRangeRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := env{"LOG_FORMAT": "json", "BACKUP_DIR": dir, "MONGO_URL": "mongodb://127.0.0.1:1/"}
	cases := []struct {
		cmd       string
		name, val string
		want      string // the range as the message says it
	}{
		{"backup", "BACKUP_COMPRESSION_LEVEL", "99", "0 = the default (zstd 1, gzip 6), else 1 to 22"},
		{"backup", "BACKUP_COMPRESSION_LEVEL", "-3", "1 to 22"},
		{"pitr", "BACKUP_COMPRESSION_LEVEL", "99", "1 to 22"},
		{"backup", "BACKUP_PARALLEL", "0", "1 to 64"},
		{"backup", "S3_CONCURRENCY", "0", "1 to 64"},
		{"backup", "S3_CONCURRENCY", "-2", "1 to 64"},
		{"backup", "S3_MAX_PARTS", "0", "1 to 10000"},
		{"backup", "S3_PART_SIZE", "1MiB", "5MiB to 5GiB"},
		{"list", "S3_TIMEOUT", "0", "1s to 1h"},
		{"list", "S3_TIMEOUT", "-1s", "1s to 1h"},
		{"list", "S3_MAX_RETRIES", "-1", "0 = no retries, else 1 to 100"},
		{"backup", "MONGO_TIMEOUT", "0", "1s to 1h"},
		{"restore", "RESTORE_BATCH_SIZE", "0", "1 to 100000"},
		{"restore", "RESTORE_BATCH_SIZE", "-1", "1 to 100000"},
		{"restore", "RESTORE_INSERTION_WORKERS", "0", "1 to 64"},
		{"pitr", "PITR_HEALTH_MAX_LAG", "-1m", "0 = twice --interval plus a minute, else 1s to 720h"},
		{"pitr", "PITR_CHUNK_SIZE", "2GiB", "1MiB to 1GiB"},
		{"pitr", "PITR_INTERVAL", "0s", "100ms to 24h"},
		{"pitr", "PITR_POLL", "0s", "10ms to 10m"},
		{"backup", "HEALTH_MAX_AGE", "-1h", "0 = twice the longest gap between scheduled runs"},
		{"prune", "PRUNE_KEEP_DAILY", "-1", "0 = off, else 1 to 100000"},
		{"prune", "PRUNE_MIN_KEEP", "0", "1 to 100000"},
		{"prune", "S3_BACKUP_MAX_AGE", "-5", "0 = off"},
		{"prune", "PRUNE_INCOMPLETE_GRACE", "30s", "1m to 87600h"},
		{"backup", "S3_OBJECT_LOCK_DAYS", "-1", "0 = no lock, else 1 to 36500"},
	}
	for _, c := range cases {
		t.Run(c.cmd+"/"+c.name+"="+c.val, func(t *testing.T) {
			r := runCLI(t, base.with(c.name, c.val), c.cmd)
			if r.code != exitUsage {
				t.Fatalf("want exit 2, got %s", r)
			}
			for _, want := range []string{c.name, c.want, "must be"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the message does not say %q: %s", want, r.stderr)
				}
			}
		})
	}
	t.Run("gzip level above 9", func(t *testing.T) {
		r := runCLI(t, base.with("BACKUP_COMPRESSION", "gzip", "BACKUP_COMPRESSION_LEVEL", "12"), "backup")
		if r.code != exitUsage || !strings.Contains(r.stderr, "gzip's levels are 1 to 9") {
			t.Errorf("want exit 2 naming gzip's levels, got %s", r)
		}
	})
	t.Run("chunk size not a number", func(t *testing.T) {
		r := runCLI(t, base.with("PITR_CHUNK_SIZE", "1e12"), "pitr")
		if r.code != exitUsage || !strings.Contains(r.stderr, "PITR_CHUNK_SIZE") {
			t.Errorf("want exit 2 naming PITR_CHUNK_SIZE, got %s", r)
		}
	})
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused runs left files in the backup directory: %v", entries)
	}
}

// TestRangesInHelp: each ranged flag's help ends with its range, and where 0 means
// something else the help says what.
func TestRangesInHelp(t *testing.T) {
	t.Parallel()
	for cmd, wants := range map[string][]string{
		"prune":  {"Range: 0 = off, else 1 to 100000", "Range: 1m to 87600h"},
		"pitr":   {"0 = twice --interval plus a minute", "Range: 1MiB to 1GiB"},
		"backup": {"Range: 0 = the default (zstd 1, gzip 6), else 1 to 22", "0 = no retries"},
	} {
		r := mustRun(t, env{}, cmd, "--help")
		text := strings.Join(strings.Fields(r.stdout), " ") // help wraps lines
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s --help does not say %q:\n%s", cmd, w, r.stdout)
			}
		}
	}
}

// TestEndpointWithoutScheme: an S3_ENDPOINT without http:// or https:// is refused with
// exit 2 naming both, not quietly taken as https.
func TestEndpointWithoutScheme(t *testing.T) {
	t.Parallel()
	for _, cmd := range everyStoreCommand {
		r := runCLI(t, env{"LOG_FORMAT": "json", "S3_ENDPOINT": "minio.example:9000", "S3_BUCKET": "backups", "MONGO_URL": "mongodb://127.0.0.1:1/"}, cmd...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "has no scheme: write http://minio.example:9000 or https://minio.example:9000") {
			t.Errorf("%s: want exit 2 asking for a scheme, got %s", cmd[0], r)
		}
	}
}

// TestRecipientsWithoutKeyRefused: a recipients setting that is present but yields no key
// (a template whose keys came out empty) is refused with exit 2 by backup and by pitr, and
// nothing is stored; so is a recipients file without a key. Only the empty value means "no
// encryption".
func TestRecipientsWithoutKeyRefused(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	noKeys := filepath.Join(t.TempDir(), "recipients.txt")
	if err := os.WriteFile(noKeys, []byte("# the keys were here\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"backup", "pitr"} {
		for _, v := range []string{",", " , ", " ", "\t,\n"} {
			r := runCLI(t, b.env.with("BACKUP_AGE_RECIPIENTS", v), cmd)
			if r.code != exitUsage || !strings.Contains(r.stderr, "BACKUP_AGE_RECIPIENTS") || !strings.Contains(r.stderr, "no key") {
				t.Errorf("%s with BACKUP_AGE_RECIPIENTS=%q: want exit 2 saying it holds no key, got %s", cmd, v, r)
			}
		}
		r := runCLI(t, b.env.with("BACKUP_AGE_RECIPIENTS_FILE", noKeys), cmd)
		if r.code != exitUsage || !strings.Contains(r.stderr, "no recipients") {
			t.Errorf("%s with a recipients file without a key: want exit 2, got %s", cmd, r)
		}
	}
	if keys := listKeys(t, b); len(keys) != 0 {
		t.Errorf("refused runs stored objects: %v", keys)
	}
}

// TestPassphraseIdentityExplained: an identity file encrypted with a passphrase (age -p,
// binary or armored) is refused with exit 2 by a message that says so and asks for a plain
// identity file, not "unknown identity type".
func TestPassphraseIdentityExplained(t *testing.T) {
	t.Parallel()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "backup.dump")
	if err := os.WriteFile(archive, []byte("not read: the identity is refused first"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, armored := range []bool{false, true} {
		file := filepath.Join(dir, "key.age")
		if err := os.WriteFile(file, passphraseEncrypt(t, id.String()+"\n", armored), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{{"verify", "--from", archive}, {"restore", "--dry-run", "--from", archive}} {
			r := runCLI(t, env{"LOG_FORMAT": "json", "AGE_IDENTITY_FILE": file}, cmd...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "protected by a passphrase") || !strings.Contains(r.stderr, "plain identity file") {
				t.Errorf("%s (armored %v): want exit 2 explaining the passphrase, got %s", cmd[0], armored, r)
			}
		}
	}
}

// passphraseEncrypt is what `age -p` (with -a: armored) writes for text.
func passphraseEncrypt(t *testing.T, text string, armored bool) []byte {
	t.Helper()
	rec, err := age.NewScryptRecipient("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	rec.SetWorkFactor(10)
	var out bytes.Buffer
	var aw interface {
		Write([]byte) (int, error)
		Close() error
	}
	dst := &out
	if armored {
		aw = armor.NewWriter(dst)
	}
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	if armored {
		w, err = age.Encrypt(aw, rec)
	} else {
		w, err = age.Encrypt(dst, rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if armored {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}
