package dump

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/internal/testenv"
)

// interleavedArchive writes an archive in which every collection of sizes (name →
// document size) gets count documents, their blocks interleaved as in a dump of that many
// collections at once. Documents are numbered by _id.
func interleavedArchive(t *testing.T, db string, sizes map[string]int, count map[string]int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := archive.NewWriterSize(&buf, 256<<10)
	var entries []archive.Entry
	for name := range sizes {
		entries = append(entries, archive.Entry{DB: db, Collection: name, Type: "collection",
			Metadata: fmt.Sprintf(`{"indexes":[],"collectionName":%q,"type":"collection"}`, name)})
	}
	h := archive.Header{ConcurrentCollections: int32(len(sizes)), Version: "0.1", ServerVersion: "7.0.0", ToolVersion: "test"}
	if err := w.WritePrelude(archive.Prelude{Header: h, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	writers := map[string]*archive.NamespaceWriter{}
	for name := range sizes {
		nw, err := w.Open(context.Background(), db, name)
		if err != nil {
			t.Fatal(err)
		}
		writers[name] = nw
	}
	for i := 0; len(writers) > 0; i++ {
		for name, nw := range writers {
			if i == count[name] {
				if err := nw.Close(); err != nil {
					t.Fatal(err)
				}
				delete(writers, name)
				continue
			}
			doc, err := bson.Marshal(bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: strings.Repeat("x", sizes[name]-30)}})
			if err != nil {
				t.Fatal(err)
			}
			if err := nw.Write(doc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRestoreMemoryBound: docs/safety.md promises that a restore holds at most 16 MiB of
// documents read but not yet inserted, whatever the documents' sizes and however many
// collections the archive interleaves. The archive here holds ~50 MiB in six interleaved
// collections, from 1 MiB documents down to 200-byte ones; every answer of the server
// comes 20 ms late, so the reader runs ahead until the budget stops it.
func TestRestoreMemoryBound(t *testing.T) {
	m := testenv.NewMongo(t)
	sizes := map[string]int{"huge": 1 << 20, "large": 100 << 10, "blobs": 10 << 10, "orders": 2 << 10, "events": 200, "tiny": 60}
	count := map[string]int{"huge": 20, "large": 100, "blobs": 1000, "orders": 3000, "events": 5000, "tiny": 5000}
	data := interleavedArchive(t, m.DB, sizes, count)
	client, _ := slowClient(t, m, 20)
	stats, err := Restore(ctxT(t), client, bytes.NewReader(data), RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("archive %.1f MiB, peak buffered %.1f MiB", float64(len(data))/(1<<20), float64(stats.PeakBuffered)/(1<<20))
	if stats.PeakBuffered > restoreMemoryBudget {
		t.Errorf("held %d bytes of documents at once, more than the %d promised", stats.PeakBuffered, restoreMemoryBudget)
	}
	// The reader must have been held back, or this test says nothing about the bound.
	if stats.PeakBuffered < restoreMemoryBudget*3/4 {
		t.Errorf("held at most %d bytes: the reader never ran into the %d-byte budget, so the test did not exercise it", stats.PeakBuffered, restoreMemoryBudget)
	}
	for name, want := range count {
		got, err := m.Client.Database(m.DB).Collection(name).CountDocuments(ctxT(t), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if got != int64(want) {
			t.Errorf("%s: %d documents, want %d", name, got, want)
		}
	}
}
