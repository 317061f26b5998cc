package dump

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestInsertCommandsOnTheWire watches the commands a restore sends: every insert is
// unordered, carries the write concern and bypassDocumentValidation asked for, holds at
// most BatchDocs documents, and its documents are the archive's bytes, each exactly once.
func TestInsertCommandsOnTheWire(t *testing.T) {
	m := testenv.NewMongo(t)
	count := map[string]int{"a": 700, "b": 300}
	data := interleavedArchive(t, m.DB, map[string]int{"a": 500, "b": 3000}, count)
	var mu sync.Mutex
	var inserts []bson.Raw
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "insert" {
			mu.Lock()
			inserts = append(inserts, append(bson.Raw(nil), e.Command...))
			mu.Unlock()
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(m.URL).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	if _, err := Restore(ctxT(t), client, bytes.NewReader(data), RestoreOptions{BatchDocs: 128, Bypass: true, WriteConcern: writeconcern.W1()}); err != nil {
		t.Fatal(err)
	}

	want := map[string]bool{} // every document of the archive, by its bytes
	ar := archive.NewReader(bytes.NewReader(data))
	for rec, err := ar.Next(); err == nil; rec, err = ar.Next() {
		if rec.Doc != nil {
			want[string(rec.Doc)] = true
		}
	}
	seen := 0
	for _, cmd := range inserts {
		if ordered, ok := cmd.Lookup("ordered").BooleanOK(); !ok || ordered {
			t.Fatalf("insert not unordered: %s", cmd.Lookup("ordered"))
		}
		if bypass, _ := cmd.Lookup("bypassDocumentValidation").BooleanOK(); !bypass {
			t.Fatalf("insert without bypassDocumentValidation")
		}
		if w, _ := cmd.Lookup("writeConcern", "w").AsInt64OK(); w != 1 {
			t.Fatalf("insert with write concern %s, want w: 1", cmd.Lookup("writeConcern"))
		}
		docs, err := cmd.Lookup("documents").Array().Values()
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 || len(docs) > 128 {
			t.Errorf("an insert of %d documents, want 1 to 128", len(docs))
		}
		for _, d := range docs {
			if !want[string(d.Value)] {
				t.Fatalf("a document sent that the archive does not hold, or sent twice: %s", d.Document())
			}
			delete(want, string(d.Value))
			seen++
		}
	}
	if len(want) != 0 || seen != 1000 {
		t.Errorf("%d documents sent, %d of the archive's never sent", seen, len(want))
	}
}
