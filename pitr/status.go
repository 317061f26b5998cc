package pitr

import (
	"sync"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
)

// Status is what the archiver has done so far, for metrics and health checks.
type Status struct {
	// LastArchived is the Until of the newest complete chunk (zero before the first).
	LastArchived optime.Timestamp
	// ReadUpTo is the end of what has been read: the chunk in progress ends there.
	ReadUpTo optime.Timestamp
	// Newest is the newest oplog entry the last poll saw.
	Newest  optime.Timestamp
	Chunks  int64 // chunks completed by this process
	Bytes   int64 // their stored bytes
	Entries int64 // entries they hold
	// Gaps counts the gaps this process found; OpenGap is the newest of them while no
	// complete base backup exists after it (times after a gap need one), else nil.
	Gaps    int64
	OpenGap *catalog.GapMarker
	// Failures counts failed reads and uploads — an operation the store retries counts at
	// its first failed attempt, once; LastError is the latest failure's message while it is
	// not yet followed by a success ("" then), and LastErrorAt when the failing began.
	Failures    int64
	LastError   string
	LastErrorAt time.Time
	LastChunkAt time.Time // when the newest chunk was completed
	Started     time.Time
}

// Lag is how far the archive is behind the newest oplog entry, in whole seconds (0 when
// unknown or up to date).
func (s Status) Lag() time.Duration {
	if s.Newest.IsZero() || s.LastArchived.IsZero() || !s.Newest.After(s.LastArchived) {
		return 0
	}
	return time.Duration(s.Newest.T-s.LastArchived.T) * time.Second
}

// statusBox guards the status the archiver's goroutine writes and others read.
type statusBox struct {
	mu sync.Mutex
	s  Status
	// counted: the operation in progress is already counted in Failures (a failed
	// attempt the store retries).
	counted bool
}

func (b *statusBox) get() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	if s.OpenGap != nil {
		g := *s.OpenGap
		s.OpenGap = &g
	}
	return s
}

func (b *statusBox) update(f func(*Status)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.s)
}

// failed records a failed read or upload, to be tried again.
func (b *statusBox) failed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failing(err.Error())
	b.counted = false
}

// attemptFailed records a failed attempt that the store retries: the operation counts as
// failing from now on (health and metrics turn at once), and is counted once.
func (b *statusBox) attemptFailed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failing("retrying: " + err.Error())
	b.counted = true
}

// failing sets the failure; b.mu is held.
func (b *statusBox) failing(msg string) {
	if !b.counted {
		b.s.Failures++
	}
	if b.s.LastError == "" {
		b.s.LastErrorAt = time.Now()
	}
	b.s.LastError = msg
}

// succeeded ends a failure: the operations since went well.
func (b *statusBox) succeeded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s.LastError, b.counted = "", false
}
