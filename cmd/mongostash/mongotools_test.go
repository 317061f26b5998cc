package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEngineMongotools checks the --engine mongotools plumbing with a stand-in for
// mongodump (real mongodump cannot be installed here): a script that records its
// arguments and --config file and writes a golden archive that real mongodump 100.18
// produced. It shows that the password goes through a config file and never argv, that
// the archive streams through compression and upload, and that the manifest gets the
// archive's per-namespace counts.
func TestEngineMongotools(t *testing.T) {
	b := newBed(t)
	dir := t.TempDir()
	golden, err := filepath.Abs("../../dump/archive/testdata/mongodump-100.18.0-ferretdb-shop.archive")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "mongodump")
	record := filepath.Join(dir, "record")
	body := `#!/bin/sh
printf '%s\n' "$@" > ` + record + `.args
for a in "$@"; do case "$a" in --config=*) cp "${a#--config=}" ` + record + `.config;; esac; done
cat ` + golden + `
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	const password = "t00l-Passw0rd"
	e := b.env.with("MONGO_URL", strings.Replace(b.mongo.URL, "mongodb://", "mongodb://backup:"+password+"@", 1), "MONGO_DATABASE", "shop")
	// With this engine mongostash does not connect by itself (FerretDB here would refuse
	// the credentials): the stand-in plays mongodump's part.
	r := mustRun(t, e, "backup", "--engine", "mongotools", "--mongodump-path", script)
	if strings.Contains(r.stderr, password) {
		t.Errorf("password in the log: %s", r.stderr)
	}
	args, err := os.ReadFile(record + ".args")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(args), password) {
		t.Errorf("password on mongodump's command line: %s", args)
	}
	for _, want := range []string{"--archive", "--db=shop", "--uri=mongodb://backup@"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("mongodump args lack %q: %s", want, args)
		}
	}
	cfg, err := os.ReadFile(record + ".config")
	if err != nil || !strings.Contains(string(cfg), "password: '"+password+"'") {
		t.Errorf("config file: %q, %v", cfg, err)
	}
	var list []listEntry
	out := mustRun(t, b.env, "list", "--json")
	if err := json.Unmarshal([]byte(out.stdout), &list); err != nil || len(list) != 1 || !list[0].Complete {
		t.Fatalf("list: %v %s", err, out.stdout)
	}
	if list[0].Documents != 1004 {
		t.Errorf("manifest counts %d documents, the archive holds 1004", list[0].Documents)
	}
	mustRun(t, b.env, "verify", "latest")

	// Without the binary, a clear error.
	r = runCLI(t, e, "backup", "--engine", "mongotools", "--mongodump-path", filepath.Join(dir, "nope"))
	if r.code != 1 || !strings.Contains(r.stderr, "mongodump") {
		t.Errorf("missing mongodump: %s", r)
	}
	// Not on PATH (which the tools are looked up in): dump says so, the CLI names its flag.
	t.Setenv("PATH", t.TempDir())
	r = runCLI(t, e, "backup", "--engine", "mongotools")
	if r.code != 1 || !strings.Contains(r.stderr, "dump: mongodump not found on PATH") || !strings.Contains(r.stderr, "--mongodump-path") {
		t.Errorf("mongodump not on PATH: %s", r)
	}
	r = runCLI(t, b.env, "restore", "--engine", "mongotools", "--from", golden)
	if r.code != 1 || !strings.Contains(r.stderr, "dump: mongorestore not found on PATH") || !strings.Contains(r.stderr, "--mongorestore-path") {
		t.Errorf("mongorestore not on PATH: %s", r)
	}
}
