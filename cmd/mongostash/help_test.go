package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// uploadFlags are the flags of UploadFlags: how new objects are written.
var uploadFlags = []string{"--s3-sse", "--s3-sse-kms-key-id", "--s3-storage-class", "--s3-part-size", "--s3-concurrency", "--s3-max-parts", "--s3-checksum", "--s3-object-lock-mode", "--s3-object-lock-days"}

// TestHelpShowsOnlyTheFlagsACommandUses: the commands that only read the store (and prune,
// which deletes) show no upload flags; backup and pitr, which write, show them all.
func TestHelpShowsOnlyTheFlagsACommandUses(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"list", "verify", "restore", "prune", "backup", "pitr"} {
		r := mustRun(t, env{}, cmd, "--help")
		writes := cmd == "backup" || cmd == "pitr"
		for _, f := range uploadFlags {
			if shown := strings.Contains(r.stdout, f); shown != writes {
				t.Errorf("%s --help: %s shown = %v, want %v", cmd, f, shown, writes)
			}
		}
		t.Logf("%s --help: %d lines", cmd, strings.Count(r.stdout, "\n"))
	}
}

// TestHelpHasExamples: every command's help has 3 to 5 examples of itself, and no default
// printed as a number that means something else (the max staleness's -1 was "the max age").
func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"backup", "restore", "prune", "list", "verify", "pitr"} {
		r := mustRun(t, env{}, cmd, "--help")
		_, examples, ok := strings.Cut(r.stdout, "Examples:")
		examples, _, _ = strings.Cut(examples, "Flags:")
		n := len(regexp.MustCompile(`(?m)^\s+(\S+=\S+ )?mongostash `+cmd+`\b`).FindAllString(examples, -1))
		if !ok || n < 3 || n > 5 {
			t.Errorf("%s --help has %d examples of itself, want 3 to 5:\n%s", cmd, n, r.stdout)
		}
		if strings.Contains(r.stdout, "=-1") {
			t.Errorf("%s --help prints a default of -1:\n%s", cmd, r.stdout)
		}
	}
	r := mustRun(t, env{}, "--help")
	if !strings.Contains(r.stdout, "pitr") || !strings.Contains(strings.SplitN(r.stdout, "\n\n", 3)[1], "pitr") {
		t.Errorf("the top-level tagline does not name pitr:\n%s", r.stdout)
	}
}

// TestEveryFlagHasAVariable: every flag of every command can be set by an environment
// variable (the README's promise, for containers), --help aside.
func TestEveryFlagHasAVariable(t *testing.T) {
	t.Parallel()
	parser, err := kong.New(&cli{}, kong.Name("mongostash"))
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	_ = kong.Visit(parser.Model, func(node kong.Visitable, next kong.Next) error {
		if f, ok := node.(*kong.Flag); ok && f.Name != "help" {
			count++
			if len(f.Tag.Envs) == 0 {
				t.Errorf("--%s has no environment variable", f.Name)
			}
		}
		return next(nil)
	})
	if count < 80 {
		t.Fatalf("only %d flags visited: the walk is broken", count)
	}
}
