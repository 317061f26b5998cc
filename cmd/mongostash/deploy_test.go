package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeployExamplesUseKnownVariables: every variable the deploy/ examples set (in env
// lists, Secrets and the crontab) is one the CLI reads — named in some command's --help,
// or a _FILE variant of one — so an example cannot drift into a setting nothing reads.
func TestDeployExamplesUseKnownVariables(t *testing.T) {
	known := map[string]bool{}
	for _, cmd := range []string{"backup", "restore", "prune", "list", "verify", "pitr"} {
		r := runCLI(t, env{}, cmd, "--help")
		for _, m := range regexp.MustCompile(`\$([A-Z][A-Z0-9_]+)`).FindAllStringSubmatch(r.stdout, -1) {
			known[m[1]] = true
		}
	}
	if !known["STORE_URL"] || !known["AZURE_STORAGE_ACCOUNT"] || !known["S3_BUCKET"] {
		t.Fatalf("the help names too few variables: %v", known)
	}
	files, err := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../deploy/kubernetes/*/*.yaml")
	files = append(append(files, more...), "../../deploy/crontab")
	set := regexp.MustCompile(`(?m)(?:\{name: ([A-Z][A-Z0-9_]+),|^\s+([A-Z][A-Z0-9_]+): |^([A-Z][A-Z0-9_]+)=)`)
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range set.FindAllStringSubmatch(string(b), -1) {
			name := m[1] + m[2] + m[3]
			checked++
			if !known[name] && !known[strings.TrimSuffix(name, "_FILE")] && name != "PATH" && name != "SHELL" {
				t.Errorf("%s sets %s, which no command reads", f, name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d variables found in %d files: the pattern is wrong", checked, len(files))
	}
}
