package catalog

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mongostash/mongostash/optime"
)

// Window is a recovery window: every target From <= target <= To can be restored, from
// the base backup Base and the chunks of one chain.
type Window struct {
	From  optime.Timestamp
	To    optime.Timestamp
	Base  BasePoint   // the oldest base backup opening the window
	Bases []BasePoint // every base backup inside it, oldest first
	Chain int         // index of the chain in Chains.Chains
}

// FirstSecond and LastSecond bound the whole seconds the window can restore to: a target
// given as a time means "after every entry of that second", which the window holds only
// when it reaches the end of the second.
// A window opened by a base backup taken at an empty oplog (From is zero) starts at the
// backup's own time.
func (w Window) FirstSecond() time.Time {
	if w.From.IsZero() {
		return w.Base.Time.Truncate(time.Second)
	}
	return w.From.Time()
}

// LastSecond is the newest whole second within the window; ok is false when the window
// is shorter than a whole second (use a T,I target then).
func (w Window) LastSecond() (t time.Time, ok bool) {
	last := int64(w.To.T)
	if w.To.I != math.MaxUint32 {
		last--
	}
	if last < w.FirstSecond().Unix() {
		return time.Time{}, false
	}
	return time.Unix(last, 0).UTC(), true
}

// String says what the window offers, for people.
func (w Window) String() string {
	last, ok := w.LastSecond()
	if !ok {
		return fmt.Sprintf("restorable from %s to %s (less than a second: give a T,I target) from base backup %s", w.From, w.To, w.Base.Key)
	}
	base := w.Base.Key
	if w.Base.EmptyOplog {
		base += ", taken at an empty oplog"
	}
	return fmt.Sprintf("restorable to any second from %s to %s (base backup %s)", w.FirstSecond().Format(time.RFC3339), last.Format(time.RFC3339), base)
}

// RecoveryWindows returns the windows that the base backups and chains give, oldest first:
// one per chain that holds the consistent point of at least one base backup. A base
// backup opens a window when a chain covers the oplog from its ReplayFrom on.
func RecoveryWindows(bases []BasePoint, cs Chains) []Window {
	var out []Window
	for i, ch := range cs.Chains {
		var w *Window
		for _, b := range bases { // oldest consistent point first
			if b.ReplayFrom.Before(ch.Since) || ch.Until.Before(b.ConsistentAt) {
				continue
			}
			if w == nil {
				w = &Window{From: b.ConsistentAt, To: ch.Until, Base: b, Chain: i}
			}
			w.Bases = append(w.Bases, b)
		}
		if w != nil {
			out = append(out, *w)
		}
	}
	return out
}

// DescribeWindows lists windows for an error message, or says there are none.
func DescribeWindows(ws []Window) string {
	if len(ws) == 0 {
		return "no recovery window exists (it needs a complete base backup and oplog chunks from its consistent point on)"
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return "recovery windows: " + strings.Join(parts, "; ")
}

// LatestTarget is the newest point any window reaches: what `restore --to-time latest`
// restores to. It fails, wrapping ErrNotRestorable, when there is no window.
func LatestTarget(ws []Window) (optime.Timestamp, error) {
	if len(ws) == 0 {
		return optime.Timestamp{}, fmt.Errorf("%w: %s", ErrNotRestorable, DescribeWindows(ws))
	}
	latest := ws[0].To
	for _, w := range ws[1:] {
		if w.To.After(latest) {
			latest = w.To
		}
	}
	return latest, nil
}
