// Package layout holds the tests that keep the repository's shape as docs/architecture.md
// describes it: which packages may import which, no function too long to read, and a
// package doc in every package.
package layout

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mongostash/mongostash"

// allowed lists, for each package of ours (by path below the module), the packages of ours
// it may import. A package missing here fails the test: a new package states its place.
var allowed = map[string][]string{
	"storage":                     nil,
	"storage/mem":                 {"storage"},
	"storage/local":               {"storage"},
	"storage/s3":                  {"storage", "storage/internal/stall"},
	"storage/azblob":              {"storage", "storage/internal/stall"},
	"storage/gcs":                 {"storage", "storage/internal/stall"},
	"storage/internal/stall":      nil,
	"storage/internal/storebench": nil, // tests only: storage/s3, storage/azblob, storage/gcs
	"storage/storagetest":         {"storage", "storage/internal/stall"},
	"optime":                      nil,
	"catalog":                     {"storage", "optime", "stream"},
	"stream":                      nil,
	"retention":                   nil,
	"dump/archive":                nil,
	"dump/ns":                     nil,
	"dump/idrange":                nil,
	"oplog":                       {"optime"},
	"pitr":                        {"catalog", "stream", "storage", "oplog", "optime"},
	"dump":                        {"dump/archive", "dump/idrange", "dump/ns", "internal/connstr", "oplog", "optime"},
	"internal/connstr":            nil,
	"internal/layout":             nil,
	"internal/sample":             nil,
	"internal/bench":              nil, // tests only: the built binary, dump, stream, storage/s3
	"internal/soak":               nil, // tests only: the built binary, testenv, sample, dump's names
	"internal/testenv":            nil,
	"internal/daemon":             nil,
	"internal/demo":               {"internal/testenv", "internal/sample"},
	"cmd/mongostash":              {"*"},
	"deploy":                      nil, // tests only: the manifests, with internal/testenv's kubeconform
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", dir, err)
	}
	return dir
}

// TestDependencyDirection: storage knows no backup, the catalog sits on storage, dump
// knows neither, and nothing imports the CLI (non-test imports).
func TestDependencyDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		may, known := allowed[pkg]
		if !known {
			t.Errorf("package %s has no place in the layout: add it to allowed and to docs/architecture.md", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			ours, isOurs := strings.CutPrefix(imp, module+"/")
			if !isOurs {
				continue
			}
			if ours == "cmd/mongostash" {
				t.Errorf("%s imports the CLI", pkg)
			}
			if !slices.Contains(may, "*") && !slices.Contains(may, ours) {
				t.Errorf("%s imports %s, which the layout does not allow (allowed: %v)", pkg, ours, may)
			}
		}
	}
}

// maxFuncLines is the longest function, declaration to closing brace, outside tests.
const maxFuncLines = 80

// TestNoLongFunctions: nothing over maxFuncLines lines outside tests, so every function
// can be read whole.
func TestNoLongFunctions(t *testing.T) {
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testbed" || d.Name() == "bin" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > maxFuncLines {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: %s is %d lines long (at most %d outside tests): split it", rel, fn.Name.Name, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryPackageHasADoc: every package of ours, the test bed's too, says what it is in a
// package doc comment ("// Package x …", or "// Command x …" for a main package) in one of
// its non-test files, so that `go doc` and a newcomer's first look find it.
func TestEveryPackageHasADoc(t *testing.T) {
	root := repoRoot(t)
	docs := map[string]bool{} // directory → has a doc
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		want := "Package " + f.Name.Name + " "
		if f.Name.Name == "main" {
			want = "Command "
		}
		docs[dir] = docs[dir] || (f.Doc != nil && strings.HasPrefix(f.Doc.Text(), want))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 20 {
		t.Fatalf("found only %d packages under %s: the walk is broken", len(docs), root)
	}
	for dir, ok := range docs {
		if !ok {
			rel, _ := filepath.Rel(root, dir)
			t.Errorf("package %s has no package doc: add a doc.go beginning \"// Package <name> …\" (or \"// Command <name> …\")", rel)
		}
	}
}
