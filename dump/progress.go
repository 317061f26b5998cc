package dump

import "sync/atomic"

// Progress is updated by Dump and Restore as they go, and may be read at any time by
// another goroutine (a progress bar, a periodic log line). Counting costs two atomic adds
// per document, never a server round trip.
type Progress struct {
	// Planned totals, known before data moves (estimates for Dump, prelude for Restore).
	PlannedDocuments atomic.Int64
	PlannedBytes     atomic.Int64
	Documents        atomic.Int64
	Bytes            atomic.Int64
	Namespaces       atomic.Int64 // finished namespaces
}

func (p *Progress) add(docs, bytes int64) {
	if p == nil {
		return
	}
	p.Documents.Add(docs)
	p.Bytes.Add(bytes)
}
