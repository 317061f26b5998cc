package dump

import (
	"strings"
	"testing"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
)

// TestPlanTimeseries: a time-series entry from a 5.0 server (golden archive) takes its
// data from <db>.system.buckets.<name> and writes it to the renamed target's buckets;
// admin's auth entries are skipped with a reason.
func TestPlanTimeseries(t *testing.T) {
	p := goldenPrelude(t, "mongodump-100.3.1-timeseries.archive")
	rn, err := ns.NewRenamer([]string{"timeseries_test.*"}, []string{"ts_copy.*"})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := makePlan(p, RestoreOptions{Renamer: rn})
	if err != nil {
		t.Fatal(err)
	}
	tgt := pl.targets["timeseries_test.system.buckets.foo_ts"]
	if tgt == nil {
		t.Fatalf("no target for the buckets namespace; targets %v", pl.targets)
	}
	if tgt.kind != kindTimeseries || tgt.namespace() != "ts_copy.foo_ts" || tgt.dataColl != "system.buckets.foo_ts" {
		t.Errorf("got kind %v, %s, data %s", tgt.kind, tgt.namespace(), tgt.dataColl)
	}
	for _, n := range []string{"admin.system.version", "admin.system.views"} {
		if pl.skipped[n] == "" {
			t.Errorf("%s not skipped", n)
		}
	}
}

// TestPlanRejectsCollidingRenames: two sources renamed onto one target abort the restore.
func TestPlanRejectsCollidingRenames(t *testing.T) {
	p := &archive.Prelude{Header: archive.Header{ServerVersion: "7.0.0"}, Entries: []archive.Entry{
		{DB: "a", Collection: "c", Type: "collection"}, {DB: "b", Collection: "c", Type: "collection"},
	}}
	rn, err := ns.NewRenamer([]string{"a.c", "b.c"}, []string{"x.c", "x.c"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := makePlan(p, RestoreOptions{Renamer: rn}); err == nil || !strings.Contains(err.Error(), "both be restored into x.c") {
		t.Fatalf("got %v, want a collision error", err)
	}
}
