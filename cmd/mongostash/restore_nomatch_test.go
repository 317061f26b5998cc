package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestRestoreMatchingNothingExits1: a restore whose filter matches nothing writes nothing
// and exits 1 naming the databases the backup holds — with or without an oplog in the
// backup, with or without --to-time (whose chunks are replayed too) — while the same
// restore with a filter that matches exits 0. (A backup with an oplog used to exit 0 with 0
// documents: the oplog counted as something to restore.)
func TestRestoreMatchingNothingExits1(t *testing.T) {
	for _, withOplog := range []bool{true, false} {
		t.Run(fmt.Sprintf("oplog=%v", withOplog), func(t *testing.T) {
			f := newPITRFixtureOf(t, withOplog)
			f.archive(t, f.replayFrom, f.newest, 45)
			db := f.b.mongo.DB
			for _, toTime := range []bool{false, true} {
				for _, include := range []string{db + ".nosuch", db + ".a"} {
					to := f.newTarget(t)
					args := []string{"restore", "--ns-include", include, "--ns-from", db + ".*", "--ns-to", to + ".*"}
					if toTime {
						args = append(args, "--to-time", tsArg(f.t))
					}
					r := runCLI(t, f.b.env, args...)
					got := takeSnapshot(t, f.b.mongo.Client, to)
					name := strings.Join(args, " ")
					if include == db+".a" {
						if r.code != 0 || len(got["a"].docs) == 0 {
							t.Errorf("%s: want exit 0 and collection a restored, got %d collections, %s", name, len(got), r)
						}
						continue
					}
					if r.code != exitFailed || !strings.Contains(r.stderr, "nothing in the archive matches") || !strings.Contains(r.stderr, "the archive holds the databases "+db) {
						t.Errorf("%s: want exit 1 saying nothing matches, got %s", name, r)
					}
					if len(got) != 0 {
						t.Errorf("%s: wrote %d collections", name, len(got))
					}
				}
			}
		})
	}
}
