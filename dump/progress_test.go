package dump

import (
	"fmt"
	"sync"
	"testing"
)

// TestProgressPerNamespace: namespaces count concurrently while snapshots are taken; the
// snapshots never go backwards and the end agrees with the run-wide counters.
func TestProgressPerNamespace(t *testing.T) {
	var p Progress
	p.PlanNamespace("db.c0", 1000)
	const namespaces, adds = 4, 1000
	var wg sync.WaitGroup
	for i := range namespaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := p.namespace(fmt.Sprintf("db.c%d", i), 0)
			for range adds {
				c.add(1, 10)
			}
			c.finish()
		}()
	}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		last := map[string]int64{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, n := range p.PerNamespace() {
				if n.Documents < last[n.Namespace] {
					t.Errorf("%s went back from %d to %d documents", n.Namespace, last[n.Namespace], n.Documents)
				}
				last[n.Namespace] = n.Documents
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone

	got := map[string]NamespaceProgress{}
	for _, n := range p.PerNamespace() {
		got[n.Namespace] = n
	}
	if len(got) != namespaces {
		t.Fatalf("got %d namespaces, want %d: %v", len(got), namespaces, got)
	}
	for i := range namespaces {
		name := fmt.Sprintf("db.c%d", i)
		want := NamespaceProgress{Namespace: name, Documents: adds, Bytes: 10 * adds, Done: true}
		if i == 0 {
			want.PlannedDocuments = 1000
		}
		if got[name] != want {
			t.Errorf("got %+v, want %+v", got[name], want)
		}
	}
	if d, b := p.Documents.Load(), p.Bytes.Load(); d != namespaces*adds || b != 10*namespaces*adds {
		t.Errorf("run-wide: got %d documents, %d bytes, want %d, %d", d, b, namespaces*adds, 10*namespaces*adds)
	}
	var nilProgress *Progress
	nilProgress.namespace("db.x", 0).add(1, 1) // Dump and Restore without Progress
}
