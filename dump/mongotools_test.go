package dump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMongodumpArgv: the exact command line of mongodump, password left out.
func TestMongodumpArgv(t *testing.T) {
	cases := map[string]struct {
		args MongodumpArgs
		want []string
	}{
		"everything": {
			MongodumpArgs{Database: "shop", NsInclude: []string{"shop.*", "*.users"}, NsExclude: []string{"shop.tmp"}, Parallel: 4},
			[]string{"--archive", "--uri=mongodb://backup@db1,db2/?replicaSet=rs0", "--config=/tmp/cfg.yaml",
				"--db=shop", "--nsInclude=shop.*", "--nsInclude=*.users", "--nsExclude=shop.tmp", "--numParallelCollections=4"},
		},
		"nothing": {
			MongodumpArgs{},
			[]string{"--archive", "--uri=mongodb://backup@db1,db2/?replicaSet=rs0", "--config=/tmp/cfg.yaml"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := toolArgv("mongodb://backup@db1,db2/?replicaSet=rs0", "/tmp/cfg.yaml", tc.args.args())
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestMongorestoreArgv: the exact command line of mongorestore, every option on, in the
// same order on every run (it once came from a map).
func TestMongorestoreArgv(t *testing.T) {
	all := MongorestoreArgs{
		NsInclude: []string{"shop.*"}, NsExclude: []string{"shop.tmp"},
		NsFrom: []string{"shop.*", "a.b"}, NsTo: []string{"copy.*", "c.d"},
		Drop: true, DryRun: true, NoIndexRestore: true, Bypass: true, StopOnError: true,
		OplogReplay: true, DBUsersAndRoles: true, PreserveUUID: true, Workers: 8,
	}
	want := []string{"--archive", "--uri=mongodb://h", "--nsInclude=shop.*", "--nsExclude=shop.tmp",
		"--nsFrom=shop.*", "--nsTo=copy.*", "--nsFrom=a.b", "--nsTo=c.d",
		"--drop", "--dryRun", "--noIndexRestore", "--bypassDocumentValidation", "--stopOnError",
		"--oplogReplay", "--restoreDbUsersAndRoles", "--preserveUUID", "--numInsertionWorkersPerCollection=8"}
	for range 20 {
		if got := toolArgv("mongodb://h", "", all.args()); !slices.Equal(got, want) {
			t.Fatalf("got  %q\nwant %q", got, want)
		}
	}
	some := MongorestoreArgs{Drop: true, PreserveUUID: true}
	if got, want := some.args(), []string{"--drop", "--preserveUUID"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRunToolPasswordInConfigFile runs a stand-in for mongodump that records what it was
// given: the password is in a 0600 config file, never on the command line, and the file
// is gone after the run.
func TestRunToolPasswordInConfigFile(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	script := filepath.Join(dir, "mongodump")
	body := `#!/bin/sh
printf '%s\n' "$@" > ` + record + `.args
for a in "$@"; do case "$a" in --config=*) f="${a#--config=}"; cp "$f" ` + record + `.config; stat -c %a "$f" > ` + record + `.mode;; esac; done
printf archive
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgDir := t.TempDir()
	var out bytes.Buffer
	const uri = "mongodb://backup:it's%40Sup3r@S3cret@db:27017/admin"
	err := RunMongodump(context.Background(), &out, ToolOptions{Path: script, URI: uri, TempDir: cfgDir}, MongodumpArgs{Database: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "archive" {
		t.Errorf("stdout %q", out.String())
	}
	args, _ := os.ReadFile(record + ".args")
	for _, secret := range []string{"Sup3r", "S3cret", "it's"} {
		if strings.Contains(string(args), secret) {
			t.Errorf("%q on the command line:\n%s", secret, args)
		}
	}
	if !strings.Contains(string(args), "--uri=mongodb://backup@db:27017/admin\n") {
		t.Errorf("want the URI without its password:\n%s", args)
	}
	cfg, _ := os.ReadFile(record + ".config")
	if want := "password: 'it''s@Sup3r@S3cret'\n"; string(cfg) != want {
		t.Errorf("config file %q, want %q", cfg, want)
	}
	if mode, _ := os.ReadFile(record + ".mode"); strings.TrimSpace(string(mode)) != "600" {
		t.Errorf("config file mode %q, want 600", mode)
	}
	if left, _ := os.ReadDir(cfgDir); len(left) != 0 {
		t.Errorf("config file left behind: %v", left)
	}
}

// TestRunToolFailureRedacted: a failing tool's message carries its stderr, without the
// password even when the tool prints it.
func TestRunToolFailureRedacted(t *testing.T) {
	script := filepath.Join(t.TempDir(), "mongorestore")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"auth failed for p4ss-w0rd at mongodb://u:p4ss-w0rd@h\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := RunMongorestore(context.Background(), strings.NewReader(""), ToolOptions{Path: script, URI: "mongodb://u:p4ss-w0rd@h", TempDir: t.TempDir()}, MongorestoreArgs{})
	if err == nil || strings.Contains(err.Error(), "p4ss-w0rd") || !strings.Contains(err.Error(), "auth failed for ***") {
		t.Errorf("got %v", err)
	}
}

// TestToolNotFound: a tool missing from PATH is a typed error that names the tool and no
// CLI flag (the CLI adds its own hint).
func TestToolNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := RunMongodump(context.Background(), &bytes.Buffer{}, ToolOptions{URI: "mongodb://h"}, MongodumpArgs{})
	var nf *ToolNotFoundError
	if !errors.As(err, &nf) || nf.Tool != "mongodump" {
		t.Fatalf("got %v, want a ToolNotFoundError for mongodump", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "dump: ") || strings.Contains(msg, "--") {
		t.Errorf("message %q: want the dump: prefix and no flag", msg)
	}
}

// TestRestoreRenamePairs: renames come in pairs.
func TestRestoreRenamePairs(t *testing.T) {
	err := RunMongorestore(context.Background(), strings.NewReader(""), ToolOptions{Path: "/bin/true"}, MongorestoreArgs{NsFrom: []string{"a.*"}})
	if err == nil || !strings.HasPrefix(err.Error(), "dump: ") {
		t.Errorf("got %v", err)
	}
}
