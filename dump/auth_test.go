package dump

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
)

// TestDumpUsersAndRolesSingleDB: with UsersAndRoles, a single-database dump carries the
// three `$admin.system.*` entries (metadata "", type ""), and their data come completely
// before any regular namespace (docs/archive-format.md §5.5).
func TestDumpUsersAndRolesSingleDB(t *testing.T) {
	m := testenv.NewMongo(t)
	if _, err := sample.Load(ctxT(t), m.Client, m.DB, 200); err != nil {
		t.Fatal(err)
	}
	data, _ := dumpToBuffer(t, m.Client, DumpOptions{Databases: []string{m.DB}, UsersAndRoles: true})
	r := archive.NewReader(bytes.NewReader(data))
	p, err := r.Prelude()
	if err != nil {
		t.Fatal(err)
	}
	var auth []string
	for _, e := range p.Entries {
		if strings.HasPrefix(e.Collection, "$admin.") {
			auth = append(auth, e.Collection)
			if e.Metadata != "" || e.Type != "" || e.DB != m.DB {
				t.Errorf("auth entry %+v: want db %s, no metadata, no type", e, m.DB)
			}
		}
	}
	if strings.Join(auth, ",") != "$admin.system.users,$admin.system.roles,$admin.system.version" {
		t.Errorf("auth entries: %v", auth)
	}
	seenRegular := false
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		isAuth := strings.HasPrefix(rec.Collection, "$admin.")
		if isAuth && seenRegular {
			t.Fatalf("auth namespace %s after a regular one", rec.Namespace())
		}
		seenRegular = seenRegular || !isAuth
	}
}

// TestRestoreUsersAndRoles: users in an archive are skipped with a reason unless asked
// for; when asked, they go through _mergeAuthzCollections, which FerretDB refuses — the
// restore must then fail with a clear message rather than claim success.
func TestRestoreUsersAndRoles(t *testing.T) {
	m := testenv.NewMongo(t)
	var buf bytes.Buffer
	w := archive.NewWriter(&buf)
	entries := []archive.Entry{
		{DB: m.DB, Collection: "$admin.system.users"},
		{DB: m.DB, Collection: "c", Metadata: `{"indexes":[],"collectionName":"c","type":"collection"}`, Type: "collection"},
	}
	if err := w.WritePrelude(archive.Prelude{Header: archive.Header{ConcurrentCollections: 1, Version: "0.1", ServerVersion: "7.0.0", ToolVersion: "test"}, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	write := func(coll string, docs ...bson.D) {
		nw, err := w.Open(context.Background(), m.DB, coll)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			b, _ := bson.Marshal(d)
			if err := nw.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write("$admin.system.users", bson.D{{Key: "_id", Value: m.DB + ".app"}, {Key: "user", Value: "app"}, {Key: "db", Value: m.DB}})
	write("c", bson.D{{Key: "_id", Value: 1}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	stats, err := Restore(ctxT(t), m.Client, bytes.NewReader(buf.Bytes()), RestoreOptions{})
	if err != nil {
		t.Fatalf("without --users-and-roles: %v", err)
	}
	if stats.Skipped[m.DB+".$admin.system.users"] != SkipUsersAndRoles {
		t.Errorf("users should be skipped as not requested; skipped: %v", stats.Skipped)
	}
	_ = m.Client.Database(m.DB).Collection("c").Drop(context.Background())
	_, err = Restore(ctxT(t), m.Client, bytes.NewReader(buf.Bytes()), RestoreOptions{UsersAndRoles: true})
	if err == nil || !strings.Contains(err.Error(), "_mergeAuthzCollections") {
		t.Fatalf("got %v, want the server's refusal of _mergeAuthzCollections", err)
	}
}

// TestRestoreGoldenOplogReplay replays the oplog of a real mongodump --oplog archive
// (r4.1.3: 16 inserts into test.foo while it was dumped, which the dump already holds,
// and config.system.sessions bookkeeping) with plain CRUD, as FerretDB has no applyOps:
// the inserts overlap the dump and apply cleanly (each document once), the sessions are
// left out.
func TestRestoreGoldenOplogReplay(t *testing.T) {
	m := testenv.NewMongo(t)
	p := goldenPrelude(t, "mongodump-r4.1.3-oplog.archive")
	renamer, dbs := renameDatabases(t, m, p)
	stats, err := Restore(ctxT(t), m.Client, bytes.NewReader(golden(t, "mongodump-r4.1.3-oplog.archive")), RestoreOptions{Renamer: renamer, OplogReplay: true})
	if err != nil {
		t.Fatal(err)
	}
	docs := rawDocs(t, m.Client.Database(dbs["test"]).Collection("foo"))
	seen := map[int32]bool{}
	for _, d := range docs {
		seen[d.Lookup("a").Int32()] = true
	}
	if len(docs) != 25 || len(seen) != 25 || !seen[1] || !seen[25] {
		t.Errorf("test.foo after the replay: %d documents, a values %v", len(docs), seen)
	}
	if o := stats.Oplog; o == nil || o.Entries != 18 || o.Inserts != 16 || o.Skipped != 2 {
		t.Errorf("oplog stats: %+v", o)
	}
}

// TestCreateWithUUID: --preserve-uuid's applyOps command carries the metadata UUID as
// binary subtype 4 around the create command (base64 checked with xxd -r -p | base64).
func TestCreateWithUUID(t *testing.T) {
	cmd, err := createWithUUID("db", bson.D{{Key: "create", Value: "c"}}, "ffa7054f30dc422696fa9607e150cb53")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := bson.MarshalExtJSON(cmd, true, false)
	want := `{"applyOps":[{"op":"c","ns":"db.$cmd","o":{"create":"c"},"ui":{"$binary":{"base64":"/6cFTzDcQiaW+pYH4VDLUw==","subType":"04"}}}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := createWithUUID("db", nil, "xyz"); err == nil {
		t.Error("bad uuid accepted")
	}
}
