package catalog

import (
	"context"
	"strings"
	"testing"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage/mem"
)

// putEpochChunk is putChunk for a chunk written under lease epoch e.
func putEpochChunk(t *testing.T, s *mem.Store, prefix string, since, until optime.Timestamp, e uint64) string {
	t.Helper()
	key := putChunk(t, s, prefix, since, until, true)
	m, err := ReadChunkManifest(context.Background(), s, prefix, key)
	if err != nil {
		t.Fatal(err)
	}
	m.LeaseEpoch = e
	if err := WriteChunkManifest(context.Background(), s, prefix, key, m); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestSupersededChunks: the lease's rule. Epoch 1 wrote a chain up to 20; its holder lost
// the lease, epoch 2 took over and resumed at 20 — and then the former holder's chunk
// (20, 25] landed, and one more after it. Both are superseded by epoch 2 (never complete,
// never in a chain); epoch 1's chunks before 20 are not. An archiver without a lease
// (epoch 0) before them all is untouched, and epoch 3, resuming after a clean stop at 40,
// supersedes nothing.
func TestSupersededChunks(t *testing.T) {
	s := mem.New()
	const p = ""
	legacy := putEpochChunk(t, s, p, ts(0, 0), ts(5, 0), 0)
	e1a := putEpochChunk(t, s, p, ts(5, 0), ts(10, 0), 1)
	e1b := putEpochChunk(t, s, p, ts(10, 0), ts(20, 0), 1)
	stale := putEpochChunk(t, s, p, ts(20, 0), ts(25, 0), 1)
	staleNext := putEpochChunk(t, s, p, ts(25, 0), ts(28, 0), 1)
	e2a := putEpochChunk(t, s, p, ts(20, 0), ts(30, 0), 2)
	e2b := putEpochChunk(t, s, p, ts(30, 0), ts(40, 0), 2)
	e3 := putEpochChunk(t, s, p, ts(40, 0), ts(50, 0), 3)
	c, err := ReadOplogCatalog(t.Context(), s, p)
	if err != nil {
		t.Fatal(err)
	}
	var complete, superseded []string
	for _, ch := range c.Complete() {
		complete = append(complete, ch.Key)
	}
	for _, ch := range c.Superseded() {
		superseded = append(superseded, ch.Key)
		if ch.SupersededBy != 2 {
			t.Errorf("%s superseded by epoch %d, want 2", ch.Key, ch.SupersededBy)
		}
	}
	if got, want := strings.Join(complete, " "), strings.Join([]string{legacy, e1a, e1b, e2a, e2b, e3}, " "); got != want {
		t.Errorf("complete:\n got %s\nwant %s", got, want)
	}
	if got, want := strings.Join(superseded, " "), stale+" "+staleNext; got != want {
		t.Errorf("superseded:\n got %s\nwant %s", got, want)
	}
	cs := c.BuildChains()
	if len(cs.Chains) != 1 || len(cs.Redundant) != 0 || cs.Chains[0].Until != ts(50, 0) || len(cs.Chains[0].Chunks) != 6 {
		t.Errorf("want one chain of the six complete chunks, got %+v", cs)
	}
}
