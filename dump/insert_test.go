package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestStoredBefore: after a batch was sent again, a duplicate-key error counts as a
// document the first sending stored only when the collection holds exactly that
// document; a different document under the same _id stays refused.
func TestStoredBefore(t *testing.T) {
	m := testenv.NewMongo(t)
	db := m.Client.Database(m.DB)
	docs := []bson.Raw{
		mustMarshal(t, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "first sending stored me"}}),
		mustMarshal(t, bson.D{{Key: "_id", Value: 2}, {Key: "v", Value: "from the archive"}}),
		mustMarshal(t, bson.D{{Key: "_id", Value: 3}, {Key: "v", Value: "new"}}),
	}
	if _, err := db.Collection("c").InsertMany(ctxT(t), []any{docs[0], bson.D{{Key: "_id", Value: 2}, {Key: "v", Value: "someone else's"}}}); err != nil {
		t.Fatal(err)
	}
	b := newBatch(insertHeader("c", false, nil), 4096)
	for _, d := range docs {
		b.add(d)
	}
	b.seal()
	err := db.RunCommand(ctxT(t), bson.Raw(b.cmd)).Err()
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 2 {
		t.Fatalf("got %v, want duplicate-key errors for documents 0 and 1", err)
	}
	still, err := storedBefore(ctxT(t), db.Collection("c"), b, we.WriteErrors)
	if err != nil {
		t.Fatal(err)
	}
	if len(still) != 1 || still[0].Index != 1 {
		t.Fatalf("still refused: %+v, want only document 1 (a different document under its _id)", still)
	}
}

// slowClient connects to the test server through a Toxiproxy in this process that delays
// every answer by latency milliseconds: inserts are then slower than any archive decodes,
// whatever the server. The proxy takes more toxics.
func slowClient(t *testing.T, m *testenv.Mongo, latency int) (*mongo.Client, *toxiproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()), "mongo", "127.0.0.1:0", u.Host)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	toxic := fmt.Sprintf(`{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, latency)
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + proxy.Listen + "/").
		SetServerSelectionTimeout(30 * time.Second).SetHeartbeatInterval(500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client, proxy
}

// logRecorder keeps the messages of a logger's records.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }
func (r *logRecorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// TestRestoreSurvivesLostAnswers cuts every connection to the server while inserts are in
// flight, after the server got them: their answers are lost. The restore sends those
// batches again and must end with every document stored exactly once and none counted
// as refused — the documents the first sending stored come back as duplicates of
// themselves.
func TestRestoreSurvivesLostAnswers(t *testing.T) {
	m := testenv.NewMongo(t)
	count := map[string]int{"a": 3000, "b": 3000, "c": 3000}
	data := interleavedArchive(t, "src", map[string]int{"a": 2000, "b": 1000, "c": 300}, count)

	// Every answer is delayed, so that inserts are still in flight when the cut comes.
	client, proxy := slowClient(t, m, 40)
	renamer, err := ns.NewRenamer([]string{"src.*"}, []string{m.DB + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	progress := &Progress{}
	logs := &logRecorder{}
	go func() {
		for progress.Documents.Load() < 1000 {
			time.Sleep(time.Millisecond)
		}
		// Answers from the server end mid-message; new connections fail too, until healed.
		if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"cut","type":"limit_data","stream":"downstream","attributes":{"bytes":10}}`)); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(300 * time.Millisecond)
		_ = proxy.Toxics.RemoveToxic(context.Background(), "cut")
	}()
	// Indexes are left out: only inserts are sent again (see insertAttempts).
	stats, err := Restore(ctxT(t), client, bytes.NewReader(data), RestoreOptions{Renamer: renamer, Progress: progress, BatchDocs: 200, NoIndex: true, Logger: slog.New(logs)})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if n := logs.count("insert failed, sending the batch again"); n == 0 {
		t.Fatal("no insert was sent again: the connections were not cut while inserts were in flight, so this test proved nothing")
	}
	if stats.Failed != 0 || stats.Inserted != 9000 {
		t.Errorf("inserted %d, refused %d; want 9000 and 0", stats.Inserted, stats.Failed)
	}
	for name, want := range count {
		docs := rawDocs(t, m.Client.Database(m.DB).Collection(name))
		if len(docs) != want {
			t.Errorf("%s: %d documents, want %d", name, len(docs), want)
		}
		seen := map[int32]bool{}
		for _, d := range docs {
			seen[d.Lookup("_id").Int32()] = true
		}
		for i := range int32(want) {
			if !seen[i] {
				t.Errorf("%s: no document with _id %d", name, i)
				break
			}
		}
	}
}
