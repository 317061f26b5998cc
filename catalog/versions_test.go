package catalog

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

func TestPlanVersionPurge(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	t0 := now.Add(-60 * 24 * time.Hour)
	gone := BackupKey("", t0, stream.Zstd, stream.Age)                  // pruned: marker over one free version
	locked := BackupKey("", t0.Add(time.Hour), stream.Zstd, stream.Age) // pruned: marker over a locked version
	live := BackupKey("", t0.Add(2*time.Hour), stream.Zstd, stream.Age) // current, with an older overwritten version
	v := func(key, id string, latest, marker bool) storage.Version {
		return storage.Version{Key: key, VersionID: id, Latest: latest, DeleteMarker: marker}
	}
	versions := []storage.Version{
		v(gone, "m1", true, true), v(gone, "g1", false, false), v(gone, "m0", false, true),
		v(ManifestKey(gone), "m2", true, true), v(ManifestKey(gone), "g2", false, false),
		v(locked, "m3", true, true), v(locked, "l1", false, false),
		v(live, "c1", true, false), v(live, "c0", false, false),
		v("notes.txt", "n1", false, false), v("notes.txt", "n2", true, true), // not ours
	}
	locks := map[ObjectRef]storage.Lock{
		{Key: locked, VersionID: "l1"}: {Mode: "COMPLIANCE", Until: now.Add(time.Hour)},
		{Key: gone, VersionID: "g1"}:   {Mode: "GOVERNANCE", Until: now.Add(-time.Hour)}, // expired
	}
	if got, want := fmt.Sprint(PurgeCandidates("", versions)), fmt.Sprint([]ObjectRef{{gone, "g1"}, {ManifestKey(gone), "g2"}, {locked, "l1"}, {live, "c0"}}); got != want {
		t.Errorf("PurgeCandidates = %s, want %s", got, want)
	}
	var got []string
	for _, d := range PlanVersionPurge("", versions, locks, now) {
		verb := "keep"
		if d.Delete {
			verb = "delete"
		}
		got = append(got, fmt.Sprintf("%s %s %s: %s", verb, d.Key, d.VersionID, d.Reason))
	}
	want := []string{
		"delete " + gone + " m1: delete marker with no version left under it",
		"delete " + gone + " g1: noncurrent, not locked",
		"delete " + gone + " m0: delete marker",
		"delete " + ManifestKey(gone) + " m2: delete marker with no version left under it",
		"delete " + ManifestKey(gone) + " g2: noncurrent, not locked",
		"keep " + locked + " m3: delete marker over a locked version",
		"keep " + locked + " l1: noncurrent, locked (COMPLIANCE) until 2026-12-01T01:00:00Z",
		"delete " + live + " c0: noncurrent, not locked",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
