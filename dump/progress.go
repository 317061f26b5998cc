package dump

import (
	"sync"
	"sync/atomic"
)

// Progress is updated by Dump and Restore as they go, and may be read at any time by
// another goroutine (a progress bar, a periodic log line). Counting costs atomic adds per
// document (run-wide and per namespace), never a map lookup, a lock or a server round trip.
type Progress struct {
	// Planned totals, known before data moves (estimates for Dump, prelude for Restore).
	PlannedDocuments atomic.Int64
	PlannedBytes     atomic.Int64
	Documents        atomic.Int64
	Bytes            atomic.Int64
	Namespaces       atomic.Int64 // finished namespaces

	mu      sync.Mutex
	planned map[string]int64 // planned documents by namespace, where known
	started []*nsProgress    // in the order the namespaces started
}

// NamespaceProgress is a snapshot of one namespace's counters.
type NamespaceProgress struct {
	Namespace        string
	PlannedDocuments int64 // 0 when unknown
	Documents        int64
	Bytes            int64
	Done             bool
}

// nsProgress counts one namespace; whoever moves its documents holds a pointer to it.
type nsProgress struct {
	p         *Progress
	namespace string
	planned   int64
	documents atomic.Int64
	bytes     atomic.Int64
	done      atomic.Bool
}

func (p *Progress) add(docs, bytes int64) {
	if p == nil {
		return
	}
	p.Documents.Add(docs)
	p.Bytes.Add(bytes)
}

// PlanNamespace records how many documents namespace ns is expected to hold (from a
// manifest), so that its snapshot can show a percentage.
func (p *Progress) PlanNamespace(ns string, docs int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.planned == nil {
		p.planned = map[string]int64{}
	}
	p.planned[ns] = docs
}

// namespace registers a namespace that starts moving documents; nil when p is nil.
func (p *Progress) namespace(ns string, planned int64) *nsProgress {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if planned <= 0 {
		planned = p.planned[ns]
	}
	c := &nsProgress{p: p, namespace: ns, planned: planned}
	p.started = append(p.started, c)
	return c
}

// PerNamespace returns a snapshot of every namespace that has started, in start order.
func (p *Progress) PerNamespace() []NamespaceProgress {
	p.mu.Lock()
	started := p.started[:len(p.started):len(p.started)]
	p.mu.Unlock()
	out := make([]NamespaceProgress, len(started))
	for i, c := range started {
		out[i] = NamespaceProgress{Namespace: c.namespace, PlannedDocuments: c.planned,
			Documents: c.documents.Load(), Bytes: c.bytes.Load(), Done: c.done.Load()}
	}
	return out
}

// add counts documents for the namespace and the whole run.
func (c *nsProgress) add(docs, bytes int64) {
	if c == nil {
		return
	}
	c.documents.Add(docs)
	c.bytes.Add(bytes)
	c.p.add(docs, bytes)
}

func (c *nsProgress) finish() {
	if c != nil {
		c.done.Store(true)
	}
}
