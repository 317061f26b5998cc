package dump

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
)

// noOplogArchive is an archive of collection db.c holding docs, without an oplog (a backup
// made without one).
func noOplogArchive(t *testing.T, db string, docs []bson.Raw) []byte {
	t.Helper()
	md, err := archive.FormatMetadata(&archive.Metadata{CollectionName: "c", Type: "collection"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	aw := archive.NewWriter(&buf)
	if err := aw.WritePrelude(archive.Prelude{Header: archive.Header{ConcurrentCollections: 1, ServerVersion: "7.0.0"},
		Entries: []archive.Entry{{DB: db, Collection: "c", Metadata: md, Type: "collection"}}}); err != nil {
		t.Fatal(err)
	}
	nw, err := aw.Open(context.Background(), db, "c")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if err := nw.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func supply(entries []bson.Raw, fail error) func(context.Context, func(bson.Raw) error) error {
	return func(_ context.Context, apply func(bson.Raw) error) error {
		for _, e := range entries {
			if err := apply(e); err != nil {
				return err
			}
		}
		return fail
	}
}

// TestRestoreMoreOplog: entries supplied by MoreOplog (point-in-time recovery's chunks)
// are replayed after the archive's own oplog, or onto an archive without one, under the
// filter and renames; a dry run only counts them; with Drop an error of MoreOplog after
// entries were applied replaces nothing and leaves no temporary collection.
func TestRestoreMoreOplog(t *testing.T) {
	m := testenv.NewMongo(t)
	coll := m.Client.Database(m.DB).Collection("c")
	rn, err := ns.NewRenamer([]string{"src.*"}, []string{m.DB + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	skip, err := ns.NewMatcher(nil, []string{"src.skipped"})
	if err != nil {
		t.Fatal(err)
	}
	dumped := []bson.Raw{doc(bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: int32(1)}})}
	own := []bson.Raw{entry(1, "i", "src.c", bson.D{{Key: "_id", Value: int32(2)}, {Key: "x", Value: int32(2)}}, nil)}
	more := []bson.Raw{
		entry(2, "u", "src.c", bson.D{{Key: "$v", Value: int32(1)}, {Key: "$set", Value: bson.D{{Key: "x", Value: int32(10)}}}}, bson.D{{Key: "_id", Value: int32(1)}}),
		entry(3, "d", "src.c", bson.D{{Key: "_id", Value: int32(2)}}, nil),
		entry(4, "i", "src.c", bson.D{{Key: "_id", Value: int32(3)}, {Key: "x", Value: int32(3)}}, nil),
		entry(5, "i", "src.skipped", bson.D{{Key: "_id", Value: int32(1)}}, nil),
	}
	want := []bson.Raw{doc(bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: int32(10)}}), doc(bson.D{{Key: "_id", Value: int32(3)}, {Key: "x", Value: int32(3)}})}

	dry, err := Restore(ctxT(t), nil, bytes.NewReader(noOplogArchive(t, "src", dumped)), RestoreOptions{DryRun: true, OplogReplay: true, MoreOplog: supply(more, nil)})
	if err != nil || dry.Oplog == nil || dry.Oplog.Entries != 4 {
		t.Fatalf("dry run: %+v %v", dry.Oplog, err)
	}
	if names := collectionNames(t, m, m.DB); names != "[]" {
		t.Fatalf("the dry run wrote %s", names)
	}

	for name, data := range map[string][]byte{"without an oplog": noOplogArchive(t, "src", dumped), "after its own oplog": oplogArchive(t, "src", dumped, own)} {
		_ = m.Client.Database(m.DB).Drop(ctxT(t))
		st, err := Restore(ctxT(t), m.Client, bytes.NewReader(data), RestoreOptions{Renamer: rn, Filter: skip, OplogReplay: true, MoreOplog: supply(more, nil)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := rawDocs(t, coll); !equalRaw(got, want) {
			t.Errorf("%s: %v", name, got)
		}
		if names := collectionNames(t, m, m.DB); names != "[c]" {
			t.Errorf("%s: collections %s (the filtered namespace must not be created)", name, names)
		}
		if st.Oplog == nil || st.Oplog.Last.I != 5 {
			t.Errorf("%s: oplog stats %+v", name, st.Oplog)
		}
	}

	damaged := errors.New("chunk damaged")
	_, err = Restore(ctxT(t), m.Client, bytes.NewReader(oplogArchive(t, "src", dumped, own)),
		RestoreOptions{Renamer: rn, Drop: true, OplogReplay: true, MoreOplog: supply(more[:2], damaged)})
	if !errors.Is(err, damaged) {
		t.Fatalf("failing MoreOplog with Drop: %v", err)
	}
	if got := rawDocs(t, coll); !equalRaw(got, want) {
		t.Errorf("after the failed restore with Drop: %v", got)
	}
	if names := collectionNames(t, m, m.DB); names != "[c]" {
		t.Errorf("collections left: %s", names)
	}
}
