package deploy

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mongostash/mongostash/internal/testenv"
)

// kubernetesVersion is the version of the pinned schemas in testdata/.
const kubernetesVersion = "1.32.2"

// obj is a manifest decoded from YAML: JSON's maps, lists, strings, numbers and bools.
type obj = map[string]any

// manifest is one resource of a file of deploy/kubernetes, decoded.
type manifest struct {
	path string // relative to deploy/kubernetes
	doc  obj
}

// manifests reads every resource of every YAML file under kubernetes/ but the
// kustomizations (a file may hold several, separated by ---).
func manifests(t *testing.T) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir("kubernetes", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" || d.Name() == "kustomization.yaml" {
			return err
		}
		for _, doc := range readYAML(t, path) {
			out = append(out, manifest{path: strings.TrimPrefix(path, "kubernetes/"), doc: doc})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 6 {
		t.Fatalf("found only %d manifests under kubernetes/", len(out))
	}
	return out
}

// readYAML decodes each resource of the file at path.
func readYAML(t *testing.T, path string) []obj {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []obj
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(part, "")) == "" {
			continue // a comment or nothing before the first ---
		}
		var doc obj
		if err := yaml.Unmarshal([]byte(part), &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, doc)
	}
	return docs
}

// get walks doc along keys; nil when a key is missing.
func get(doc any, keys ...string) any {
	for _, k := range keys {
		m, ok := doc.(obj)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

func list(v any) []any { l, _ := v.([]any); return l }

// podSpec is the pod template's spec of a Deployment, a Job or a CronJob, nil otherwise.
func podSpec(doc obj) obj {
	var spec any
	switch doc["kind"] {
	case "Deployment", "Job":
		spec = get(doc, "spec", "template", "spec")
	case "CronJob":
		spec = get(doc, "spec", "jobTemplate", "spec", "template", "spec")
	}
	s, _ := spec.(obj)
	return s
}

// schemas unpacks the pinned schemas into a directory laid out as kubeconform expects.
func schemas(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", "kubernetes-json-schema")
	entries, err := filepath.Glob(filepath.Join(src, "*", "*.json.gz"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("no pinned schemas under %s: %v", src, err)
	}
	for _, gz := range entries {
		rel, _ := filepath.Rel(src, strings.TrimSuffix(gz, ".gz"))
		f, err := os.Open(gz)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		readme, _ := os.ReadFile(filepath.Join(src, "README.md"))
		if !strings.Contains(string(readme), "| "+filepath.Base(rel)+" | "+hex.EncodeToString(sum[:])+" |") {
			t.Fatalf("%s is not the pinned schema its README lists (SHA-256 %x)", gz, sum)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kubeconform validates files against the pinned schemas, offline, refusing unknown
// fields and kinds it has no schema for.
func kubeconform(t *testing.T, schemaDir string, files ...string) (string, error) {
	t.Helper()
	bin, err := testenv.Binary("kubeconform")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-strict", "-summary", "-kubernetes-version", kubernetesVersion,
		"-schema-location", schemaDir + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"}
	out, err := exec.Command(bin, append(args, files...)...).CombinedOutput()
	return string(out), err
}

// TestManifestsValidate: every manifest is valid against the Kubernetes schemas
// (kubeconform -strict: unknown or misplaced fields fail) — and the validator does fail a
// manifest with a misplaced field, so that the pass means something.
func TestManifestsValidate(t *testing.T) {
	dir := schemas(t)
	var files []string
	all := manifests(t)
	for _, m := range all {
		if f := filepath.Join("kubernetes", m.path); !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	out, err := kubeconform(t, dir, files...)
	if err != nil {
		t.Fatalf("kubeconform: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
	if !strings.Contains(out, fmt.Sprintf("Valid: %d, Invalid: 0, Errors: 0, Skipped: 0", len(all))) {
		t.Errorf("kubeconform did not validate every manifest:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	b, _ := os.ReadFile(filepath.Join("kubernetes", "backup-cronjob.yaml"))
	// timeZone one level too deep: the mistake strict validation is for.
	broken := strings.Replace(string(b), "      backoffLimit: 1\n", "      backoffLimit: 1\n      timeZone: Etc/UTC\n", 1)
	if broken == string(b) {
		t.Fatal("the broken copy is not broken")
	}
	if err := os.WriteFile(bad, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := kubeconform(t, dir, bad); err == nil || !strings.Contains(out, "timeZone") {
		t.Errorf("kubeconform passed a CronJob with a misplaced field: %v\n%s", err, out)
	}
}
