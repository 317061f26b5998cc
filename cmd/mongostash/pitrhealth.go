package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mongostash/mongostash/pitr"
)

// pitrHealth answers /healthz for `mongostash pitr`: failing while a gap is open (times
// after it cannot be restored until a new base backup), while reads or uploads fail, and
// while the archive trails the oplog by more than maxLag.
type pitrHealth struct {
	status func() pitr.Status
	maxLag time.Duration
}

func (h *pitrHealth) check(now time.Time) (bool, string) {
	s := h.status()
	const layout = time.RFC3339
	switch {
	case s.OpenGap != nil:
		return false, fmt.Sprintf("gap in the archived oplog after %s (entries up to %s are lost): take a new base backup (mongostash backup) to restore to times after it",
			s.OpenGap.After.Time().Format(layout), s.OpenGap.Resume.Time().Format(layout))
	case s.LastError != "":
		return false, fmt.Sprintf("failing since %s, retrying: %s", s.LastErrorAt.UTC().Format(layout), s.LastError)
	case s.Lag() > h.maxLag:
		return false, fmt.Sprintf("the archive trails the oplog by %s, more than %s", s.Lag(), h.maxLag)
	case s.LastArchived.IsZero() && !s.Newest.IsZero() && now.Sub(s.Started) > h.maxLag:
		return false, fmt.Sprintf("no chunk written in the %s since the start (threshold %s)", now.Sub(s.Started).Round(time.Second), h.maxLag)
	case s.LastArchived.IsZero():
		return true, "ok: no chunk yet"
	default:
		return true, fmt.Sprintf("ok: archived up to %s (%s behind the newest entry)", s.LastArchived.Time().Format(layout), s.Lag())
	}
}

func (h *pitrHealth) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	writeHealth(w, h.check)
}
