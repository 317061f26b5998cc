//go:build unix

package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
)

// counterWriter is the work of one process in TestPutIfAcrossProcesses: increments a
// counter object rounds times by read, PutIf with the tag read, again on ErrPrecondition.
func counterWriter(dir string, rounds int) error {
	s, err := New(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for done := 0; done < rounds; {
		cur, err := s.ReadTagged(ctx, "counter")
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(cur.Data))
		_, err = s.PutIf(ctx, "counter", []byte(strconv.Itoa(n+1)), cur.Tag)
		switch {
		case err == nil:
			done++
		case !errors.Is(err, storage.ErrPrecondition):
			return err
		}
	}
	return nil
}

// TestPutIfAcrossProcesses: several processes (this test binary run again) increment one
// counter through ReadTagged and PutIf at once; no increment is lost, which a check and a
// write that another process can come between would lose under this contention.
func TestPutIfAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("MONGOSTASH_TEST_COUNTER_DIR"); dir != "" {
		if err := counterWriter(dir, 50); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIf(context.Background(), "counter", []byte("0"), ""); err != nil {
		t.Fatal(err)
	}
	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]bytes.Buffer, procs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestPutIfAcrossProcesses$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), "MONGOSTASH_TEST_COUNTER_DIR="+dir)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("writer %d: %v\n%s", i, err, outs[i].String())
		}
	}
	got, err := s.ReadTagged(context.Background(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(procs * 50); string(got.Data) != want {
		t.Fatalf("counter = %s after %d processes × 50 increments, want %s", got.Data, procs, want)
	}
}
