package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/sample"
)

// TestScratchImage proves what the FROM scratch image would do, without a Docker engine:
// the static binary (built as the Dockerfile builds it) runs alone in an empty root with
// only a CA bundle — version, and a real backup and list against the test bed.
func TestScratchImage(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("chroot needs root, and CI runs as root: something is wrong with this machine")
		}
		t.Skip("chroot needs root (CI runs as root)")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "mongostash")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=scratch-test", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	interp := f.Section(".interp")
	f.Close()
	if len(libs) > 0 || interp != nil {
		t.Fatalf("binary is dynamically linked: libraries %v, interpreter %v", libs, interp != nil)
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		if err := os.MkdirAll(filepath.Join(root, "etc/ssl/certs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inChroot := func(e env, args ...string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/mongostash", args...)
		cmd.Path = "/mongostash"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		cmd.Dir = "/"
		for k, v := range e {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		return collect(t, cmd)
	}
	r := inChroot(env{}, "version")
	if r.code != 0 || !bytes.HasPrefix([]byte(r.stdout), []byte("mongostash scratch-test")) {
		t.Fatalf("version in chroot: %s", r)
	}

	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 300); err != nil {
		t.Fatal(err)
	}
	if r := inChroot(b.env, "backup"); r.code != 0 {
		t.Fatalf("backup in chroot: %s", r)
	}
	r = inChroot(b.env, "list", "--json")
	var list []listEntry
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 || len(list) != 1 || !list[0].Complete {
		t.Fatalf("list in chroot: %v %s", err, r)
	}
}
