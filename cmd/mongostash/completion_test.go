package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// cliModel is the command-line model the completion scripts must cover, read the way
// completion.go reads it.
func cliModel(t *testing.T) ([]complFlag, []complCmd) {
	t.Helper()
	var c cli
	k, err := kong.New(&c, kong.Name("mongostash"))
	if err != nil {
		t.Fatal(err)
	}
	return completionModel(k.Model)
}

// TestCompletionModel: every subcommand is in the model, with the flags that matter.
func TestCompletionModel(t *testing.T) {
	global, cmds := cliModel(t)
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	want := []string{"backup", "restore", "prune", "list", "verify", "pitr", "version", "completion"}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("subcommand %s missing from %v", w, names)
		}
	}
	if len(global) == 0 || !slices.ContainsFunc(global, func(f complFlag) bool { return f.name == "log-level" && len(f.enum) == 4 }) {
		t.Errorf("global flags should include --log-level with its 4 levels: %+v", global)
	}
}

// TestCompletionBash: the bash script is valid bash, mentions every subcommand and every
// flag of the model, and completes what a user types.
func TestCompletionBash(t *testing.T) {
	r := mustRun(t, env{}, "completion", "bash")
	script := r.stdout
	global, cmds := cliModel(t)
	for _, c := range cmds {
		if !strings.Contains(script, c.name+")") {
			t.Errorf("bash script has no case for subcommand %s", c.name)
		}
		for _, f := range append(append([]complFlag{}, global...), c.flags...) {
			if !strings.Contains(script, "--"+f.name) {
				t.Errorf("bash script does not mention %s --%s", c.name, f.name)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "mongostash.bash")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", file).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}

	cases := map[string]struct {
		line string // what is typed; the last word is being completed
		want []string
	}{
		"subcommand":             {"mongostash ba", []string{"backup"}},
		"all subcommands":        {"mongostash ", []string{"backup", "completion", "list", "pitr", "prune", "restore", "verify", "version"}},
		"after a global flag":    {"mongostash --log-level debug pr", []string{"prune"}},
		"global flag value":      {"mongostash --log-level ", []string{"debug", "error", "info", "warn"}},
		"backup flag":            {"mongostash backup --sche", []string{"--schedule"}},
		"prune flags":            {"mongostash prune --keep-d", []string{"--keep-daily"}},
		"prune metrics":          {"mongostash prune --metrics-", []string{"--metrics-database", "--metrics-file"}},
		"enum value":             {"mongostash backup --compression ", []string{"gzip", "none", "zstd"}},
		"enum value after =":     {"mongostash backup --compression=", []string{"gzip", "none", "zstd"}},
		"enum prefix after =":    {"mongostash backup --compression=z", []string{"zstd"}},
		"free value: nothing":    {"mongostash backup --schedule ", nil},
		"positional enum":        {"mongostash completion ", []string{"bash", "fish", "zsh"}},
		"flags after positional": {"mongostash verify latest --fr", []string{"--from"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := bashComplete(t, file, tc.line)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
			}
		})
	}
}

// bashComplete runs the completion function the way bash's programmable completion
// does, with COMP_WORDS split at COMP_WORDBREAKS' '=' as readline splits it.
func bashComplete(t *testing.T, script, line string) []string {
	t.Helper()
	var words []string
	for _, w := range strings.Fields(line) {
		if name, val, ok := strings.Cut(w, "="); ok && strings.HasPrefix(w, "-") {
			words = append(words, name, "=")
			if val != "" {
				words = append(words, val)
			}
			continue
		}
		words = append(words, w)
	}
	if strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shq(w)
	}
	prog := "source " + shq(script) + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_mongostash\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	out, err := exec.Command("bash", "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	return got
}

// TestCompletionZshFish: the zsh and fish scripts name every subcommand, and parse in
// their shells where those are installed (they are optional on a build machine; bash is
// the one the test above requires).
func TestCompletionZshFish(t *testing.T) {
	_, cmds := cliModel(t)
	for _, tc := range []struct{ shell, check string }{{"zsh", "-n"}, {"fish", "--no-execute"}} {
		t.Run(tc.shell, func(t *testing.T) {
			script := mustRun(t, env{}, "completion", tc.shell).stdout
			for _, c := range cmds {
				if !strings.Contains(script, c.name) {
					t.Errorf("%s script does not mention %s", tc.shell, c.name)
				}
			}
			for _, f := range []string{"schedule", "metrics-file", "pushgateway", "keep-daily", "log-level"} {
				if !strings.Contains(script, f) {
					t.Errorf("%s script does not mention --%s", tc.shell, f)
				}
			}
			sh, err := exec.LookPath(tc.shell)
			if err != nil {
				t.Logf("%s is not installed: syntax not checked", tc.shell)
				return
			}
			file := filepath.Join(t.TempDir(), "mongostash."+tc.shell)
			if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sh, tc.check, file).CombinedOutput(); err != nil {
				t.Fatalf("%s %s: %v\n%s", tc.shell, tc.check, err, out)
			}
			if tc.shell == "fish" {
				out, err := exec.Command(sh, "-c", "source "+file+"; complete -C 'mongostash backup --compression '").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "zstd") {
					t.Errorf("fish does not complete --compression values: %v\n%s", err, out)
				}
			}
		})
	}
}

// TestCompletionUnknownShell is a usage error.
func TestCompletionUnknownShell(t *testing.T) {
	r := runCLI(t, env{}, "completion", "tcsh")
	if r.code != exitUsage {
		t.Fatalf("want exit %d, got %s", exitUsage, r)
	}
}
