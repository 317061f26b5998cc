package dump

import (
	"sync/atomic"
	"time"
)

// phaseClock measures where a restore's time goes — what a restore --drop over existing
// data adds (the pre-flight, counting the copies, the swap's renames, dropping what it
// replaced) beside reading, inserting and building indexes — for the debug log.
type phaseClock struct {
	last    time.Time
	attrs   []any
	indexes atomic.Int64 // nanoseconds of createIndexes, summed over namespaces (they overlap)
}

func newPhaseClock() *phaseClock { return &phaseClock{last: time.Now()} }

// mark ends the phase that ran since the last mark.
func (c *phaseClock) mark(phase string) {
	now := time.Now()
	c.attrs = append(c.attrs, phase, now.Sub(c.last).Round(time.Millisecond).String())
	c.last = now
}

// report is the phases for the log, the summed index builds last.
func (c *phaseClock) report() []any {
	return append(c.attrs, "index_builds_summed", time.Duration(c.indexes.Load()).Round(time.Millisecond).String())
}
