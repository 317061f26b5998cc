package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestSecretsNeverPrinted runs every subcommand with a password in MONGO_URL and secret
// keys set, makes each fail, and checks that no secret appears in any output.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const password, accessKey, secretKey = "Pa55w0rd-Sekrit", "AKIA-SECRET-ACCESS", "s3-Sekrit-Key-xyz"
	b := newBed(t)
	dead := closedPort(t)
	badMongo := "mongodb://admin:" + password + "@" + dead + "/?serverSelectionTimeoutMS=500"
	cases := []struct {
		name string
		env  env
		args []string
	}{
		{"backup, mongo unreachable", b.env.with("MONGO_URL", badMongo, "MONGO_TIMEOUT", "1s"), []string{"backup"}},
		{"backup, wrong S3 keys", b.env.with("MONGO_URL", badMongo, "S3_ACCESS_KEY", accessKey, "S3_SECRET_KEY", secretKey), []string{"backup"}},
		{"backup, S3 unreachable", b.env.with("MONGO_URL", badMongo, "S3_ENDPOINT", "http://"+dead, "S3_ACCESS_KEY", accessKey, "S3_SECRET_KEY", secretKey), []string{"backup"}},
		{"restore, mongo unreachable", b.env.with("MONGO_URL", badMongo, "MONGO_TIMEOUT", "1s"), []string{"restore"}},
		{"restore, wrong S3 keys", b.env.with("S3_ACCESS_KEY", accessKey, "S3_SECRET_KEY", secretKey), []string{"restore"}},
		{"prune, wrong S3 keys", b.env.with("MONGO_URL", badMongo, "S3_ACCESS_KEY", accessKey, "S3_SECRET_KEY", secretKey), []string{"prune"}},
		{"list, wrong S3 keys", b.env.with("MONGO_URL", badMongo, "S3_ACCESS_KEY", accessKey, "S3_SECRET_KEY", secretKey), []string{"list"}},
		{"verify, wrong S3 keys", b.env.with("MONGO_URL", badMongo, "S3_ACCESS_KEY", accessKey, "S3_SECRET_KEY", secretKey), []string{"verify"}},
		{"debug logs", b.env.with("MONGO_URL", badMongo, "MONGO_TIMEOUT", "1s", "LOG_LEVEL", "debug"), []string{"backup"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code == 0 {
				t.Fatalf("want failure, got %s", r)
			}
			for _, s := range []string{password, accessKey, secretKey} {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("output contains the secret %q:\n%s", s, r)
				}
			}
			if strings.TrimSpace(r.stderr) == "" {
				t.Errorf("failure without a message: %s", r)
			}
		})
	}
}

// TestHelpfulErrors: configuration mistakes exit 2, failures exit 1, each with a message
// that says what to do.
func TestHelpfulErrors(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	dead := closedPort(t)
	cases := []struct {
		name     string
		env      env
		args     []string
		wantCode int
		want     string
	}{
		{"no MONGO_URL", b.env.with("MONGO_URL", ""), []string{"backup"}, 2, "MONGO_URL"},
		{"unknown flag", b.env, []string{"backup", "--no-such-flag"}, 2, "no-such-flag"},
		{"bad compression", b.env.with("BACKUP_COMPRESSION", "lz4"), []string{"backup"}, 2, "compression"},
		{"unreachable mongo names the host", b.env.with("MONGO_URL", "mongodb://u:p4ssw0rd@"+dead, "MONGO_TIMEOUT", "1s"), []string{"backup"}, 1, dead},
		{"missing bucket", b.env.with("S3_BUCKET", "no-such-bucket-mongostash"), []string{"backup"}, 1, "no-such-bucket-mongostash"},
		{"missing database", b.env.with("MONGO_DATABASE", "nodb_mongostash_x"), []string{"backup"}, 1, "nothing to back up"},
		{"no backups to restore", b.env, []string{"restore"}, 1, "no complete backup"},
		{"backup key not found", b.env, []string{"restore", "backup-2020-01-01T00:00:00.000000Z.dump.zst"}, 1, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("want exit %d, got %s", tc.wantCode, r)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr should mention %q: %s", tc.want, r.stderr)
			}
		})
	}
}

// TestVersionAndHelp: the binary answers version and documents every command and variable.
func TestVersionAndHelp(t *testing.T) {
	r := mustRun(t, env{}, "version")
	if !strings.HasPrefix(r.stdout, "mongostash ") {
		t.Errorf("version: %s", r)
	}
	r = mustRun(t, env{}, "--help")
	for _, cmd := range []string{"backup", "restore", "prune", "list", "verify", "version"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("--help lacks %s:\n%s", cmd, r.stdout)
		}
	}
	r = mustRun(t, env{}, "prune", "--help")
	for _, v := range []string{"S3_BACKUP_MAX_AGE", "PRUNE_KEEP_LAST", "PRUNE_KEEP_DAILY", "PRUNE_KEEP_WEEKLY", "PRUNE_KEEP_MONTHLY", "PRUNE_KEEP_YEARLY", "PRUNE_KEEP_HOURLY", "PRUNE_KEEP_WITHIN", "PRUNE_MIN_KEEP", "PRUNE_MAX_STALENESS", "S3_PREFIX"} {
		if !strings.Contains(r.stdout, v) {
			t.Errorf("prune --help lacks %s", v)
		}
	}
	r = mustRun(t, env{}, "backup", "--help")
	for _, v := range []string{"MONGO_URL", "MONGO_DATABASE", "S3_ENDPOINT", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_REGION", "BACKUP_COMPRESSION"} {
		if !strings.Contains(r.stdout, v) {
			t.Errorf("backup --help lacks %s", v)
		}
	}
}

// TestUnescapedAtInPasswordRedacted: a password pasted with an unescaped '@' (which the
// driver refuses) is hidden whole in the error, not only up to its first '@'.
func TestUnescapedAtInPasswordRedacted(t *testing.T) {
	t.Parallel()
	dead := closedPort(t)
	r := runCLI(t, env{"MONGO_URL": "mongodb://u:Sup3r@S3cret@" + dead + "/", "MONGO_TIMEOUT": "1s", "LOG_FORMAT": "json"}, "restore", "--from", "-")
	if r.code != exitUsage {
		t.Fatalf("want exit %d (the driver refuses the URI), got %s", exitUsage, r)
	}
	if strings.Contains(r.stderr, "Sup3r") || strings.Contains(r.stderr, "S3cret") {
		t.Errorf("part of the password shows: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "mongodb://u:***@"+dead+"/") {
		t.Errorf("the message should show the URI redacted, naming the server %s: %s", dead, r.stderr)
	}
}

// TestRunReadsOnlyItsEnvironment: run sees the environment it is given and nothing of the
// process's — flags, arguments and _FILE secrets alike — so that in-process tests are
// what the binary does with the same variables.
func TestRunReadsOnlyItsEnvironment(t *testing.T) {
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "url")
	if err := os.WriteFile(urlFile, []byte("mongodb://127.0.0.1:1/"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOG_LEVEL", "nonsense")
	t.Setenv("MONGO_URL_FILE", urlFile)
	t.Setenv("S3_DUMP_OBJECT", "from-the-process")
	t.Setenv("BACKUP_DIR", dir)

	if r := runCLI(t, env{}, "version"); r.code != exitOK {
		t.Errorf("the process's LOG_LEVEL leaked into run: %s", r)
	}
	if r := runCLI(t, env{"LOG_LEVEL": "nonsense"}, "version"); r.code != exitUsage || !strings.Contains(r.stderr, "LOG_LEVEL") && !strings.Contains(r.stderr, "log-level") {
		t.Errorf("run's own LOG_LEVEL was not read: %s", r)
	}
	if r := runCLI(t, env{"LOG_FORMAT": "json"}, "backup"); r.code != exitUsage || !strings.Contains(r.stderr, "no MongoDB server given") {
		t.Errorf("the process's MONGO_URL_FILE leaked into run: %s", r)
	}
	backups := t.TempDir()
	r := runCLI(t, env{"LOG_FORMAT": "json", "BACKUP_DIR": backups, "S3_DUMP_OBJECT": "from-run"}, "restore", "--dry-run")
	if !strings.Contains(r.stderr, "backup from-run not found") || !strings.Contains(r.stderr, backups) {
		t.Errorf("restore should look for S3_DUMP_OBJECT from run's environment in run's BACKUP_DIR: %s", r)
	}
	r = runCLI(t, env{"LOG_FORMAT": "json", "BACKUP_DIR": backups}, "restore", "--dry-run")
	if strings.Contains(r.stderr, "from-the-process") || !strings.Contains(r.stderr, "no complete backup") {
		t.Errorf("the process's S3_DUMP_OBJECT leaked into run: %s", r)
	}
	r = runCLI(t, env{"LOG_FORMAT": "json", "BACKUP_DIR": backups, "S3_DUMP_OBJECT": "from-run"}, "restore", "--dry-run", "given")
	if !strings.Contains(r.stderr, "backup given not found") {
		t.Errorf("the argument should win over S3_DUMP_OBJECT: %s", r)
	}
}

// TestMongoUnreachablePlain: a MongoDB server that cannot be reached is said in one line
// with the cause (connection refused, no such host), without the driver's topology dump and
// without the hint meant for a connection lost mid-run.
func TestMongoUnreachablePlain(t *testing.T) {
	t.Parallel()
	dead := closedPort(t)
	for url, want := range map[string]string{
		"mongodb://u:pw@" + dead + "/":               "cannot reach MongoDB at " + dead + ": connection refused (check MONGO_URL",
		"mongodb://u:pw@no-such-host.invalid:27017/": "cannot reach MongoDB at no-such-host.invalid:27017: no such host",
	} {
		r := runCLI(t, env{"LOG_FORMAT": "json", "MONGO_URL": url, "MONGO_TIMEOUT": "1s", "BACKUP_DIR": t.TempDir()}, "backup")
		if r.code != exitFailed || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: want exit 1 saying %q, got %s", url, want, r)
		}
		for _, dump := range []string{"current topology", "server selection error", "was lost"} {
			if strings.Contains(r.stderr, dump) {
				t.Errorf("%s: the message carries %q: %s", url, dump, r.stderr)
			}
		}
	}
}
