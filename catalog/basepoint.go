package catalog

import (
	"slices"
	"time"

	"github.com/mongostash/mongostash/optime"
)

// OplogRange is the oplog a backup made with an oplog holds: the entries Start <= ts <= End,
// replayed on restore so that the backup is consistent at End.
type OplogRange struct {
	Start   optime.Timestamp `json:"start"`
	End     optime.Timestamp `json:"end"`
	Entries int64            `json:"entries"`
}

// ClockMargin widens the oplog range replayed onto a backup made without an oplog, whose
// start and finish mongostash read from its own clock while oplog timestamps come from the
// server's: replay starts this much before the backup started, and the backup is taken as
// consistent only this much after it finished. Replaying entries the backup already holds
// is harmless (every oplog entry is idempotent); missing one is not.
const ClockMargin = 2 * time.Second

// BasePoint is what point-in-time recovery needs to know about a base backup.
type BasePoint struct {
	Key  string
	Time time.Time // the backup's time, from its name
	// ReplayFrom: the oplog entries after it must be replayed on top of the backup.
	ReplayFrom optime.Timestamp
	// ConsistentAt is the earliest target the backup can be brought to: the end of its own
	// oplog, or, for a backup without one, the second after it finished (it may hold writes
	// up to its finish).
	ConsistentAt optime.Timestamp
	Oplog        bool // the backup carries its own oplog and is consistent at its end
	// EmptyOplog: the backup was taken while the oplog held no entry at all (a new oplog):
	// it is consistent before the oplog's first entry, ReplayFrom and ConsistentAt are zero,
	// and only a chain that starts at the oplog's beginning brings it forward.
	EmptyOplog bool
}

// BasePointOf returns the base point of a restorable backup; ok is false for a backup
// that is neither complete nor legacy.
func BasePointOf(b Backup) (p BasePoint, ok bool) {
	p = BasePoint{Key: b.Key, Time: b.Time}
	switch {
	case b.Complete() && b.Manifest.Oplog != nil:
		p.ReplayFrom, p.ConsistentAt, p.Oplog = b.Manifest.Oplog.End, b.Manifest.Oplog.End, true
		p.EmptyOplog = b.Manifest.Oplog.End.IsZero()
	case b.Complete():
		p.ReplayFrom, p.ConsistentAt = replayFromClock(b.Manifest.StartedAt), consistentFromClock(b.Manifest.FinishedAt)
	case b.Legacy():
		// The seed's name is its start time; its upload ended when the object appeared.
		p.ReplayFrom, p.ConsistentAt = replayFromClock(b.Time), consistentFromClock(b.LastModified)
	default:
		return BasePoint{}, false
	}
	return p, true
}

// BasePoints returns the base points of the restorable backups, oldest consistent point
// first (ties by key).
func BasePoints(backups []Backup) []BasePoint {
	var out []BasePoint
	for _, b := range backups {
		if p, ok := BasePointOf(b); ok {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b BasePoint) int {
		if n := a.ConsistentAt.Compare(b.ConsistentAt); n != 0 {
			return n
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out
}

func replayFromClock(started time.Time) optime.Timestamp {
	return optime.StartOfSecond(started.Add(-ClockMargin)).Prev()
}

func consistentFromClock(finished time.Time) optime.Timestamp {
	t := finished.Add(ClockMargin)
	if t.Truncate(time.Second).Equal(t) {
		return optime.StartOfSecond(t)
	}
	return optime.StartOfSecond(t.Add(time.Second))
}
