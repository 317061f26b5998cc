package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/pitr"
)

// TestPitrHealthCheck: /healthz of pitr fails, with a reason, on an open gap, on a
// failing read or upload, on a lag beyond the threshold, and when no chunk came in that
// long after the start; otherwise it passes.
func TestPitrHealthCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(sec int64) optime.Timestamp { return optime.Timestamp{T: uint32(now.Unix() + sec), I: 1} }
	recent := now.Add(-time.Minute)
	for name, c := range map[string]struct {
		s    pitr.Status
		ok   bool
		want string
	}{
		"no chunk yet":      {pitr.Status{Started: recent, Newest: at(0)}, true, "no chunk yet"},
		"no chunk for long": {pitr.Status{Started: now.Add(-time.Hour), Newest: at(0)}, false, "no chunk written"},
		"up to date":        {pitr.Status{Started: recent, Newest: at(-5), LastArchived: at(-65)}, true, "ok: archived up to"},
		"lagging":           {pitr.Status{Started: recent, Newest: at(0), LastArchived: at(-1200)}, false, "trails the oplog by 20m0s"},
		"failing":           {pitr.Status{Started: recent, Newest: at(0), LastArchived: at(-5), LastError: "store chunk x: boom", LastErrorAt: now}, false, "boom"},
		"gap":               {pitr.Status{Started: recent, Newest: at(0), LastArchived: at(-5), OpenGap: &catalog.GapMarker{After: at(-900), Resume: at(-600)}}, false, "take a new base backup"},
	} {
		t.Run(name, func(t *testing.T) {
			h := &pitrHealth{status: func() pitr.Status { return c.s }, maxLag: 10 * time.Minute}
			ok, msg := h.check(now)
			if ok != c.ok || !strings.Contains(msg, c.want) {
				t.Errorf("check = %v %q, want %v and %q", ok, msg, c.ok, c.want)
			}
		})
	}
}
