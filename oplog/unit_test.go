package oplog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestSpoolMemoryThenFile(t *testing.T) {
	dir := t.TempDir()
	s := newSpool(dir, 1000)
	var want [][]byte
	for i := 0; i < 200; i++ {
		doc, _ := bson.Marshal(bson.D{{Key: "i", Value: int32(i)}, {Key: "pad", Value: fmt.Sprint(i)}})
		if err := s.Add(doc); err != nil {
			t.Fatal(err)
		}
		want = append(want, doc)
		if files, _ := os.ReadDir(dir); (len(files) > 0) != (s.Size() > 1000) {
			t.Fatalf("after %d bytes: %d files", s.Size(), len(files))
		}
	}
	for round := 0; round < 2; round++ {
		i := 0
		err := s.Each(func(doc bson.Raw) error {
			if !bytes.Equal(doc, want[i]) {
				t.Fatalf("document %d: got %s", i, doc)
			}
			i++
			return nil
		})
		if err != nil || i != 200 || s.Len() != 200 {
			t.Fatalf("round %d: %d documents, %v", round, i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("files left after Close: %v", files)
	}
	if err := newSpool(dir, 0).Add([]byte{9, 0, 0, 0, 0}); !errors.Is(err, ErrBadEntry) {
		t.Errorf("bad document: %v", err)
	}
}

func TestUpdateTranslationForms(t *testing.T) {
	for _, c := range []struct {
		name, o string
		kind    writeKind
		ops     []string // update documents of wUpdate, as relaxed JSON
	}{
		{"replacement", `{"_id": 1, "a": 1}`, wReplace, nil},
		{"v1 operators", `{"$v": 1, "$set": {"a": 1}}`, wUpdate, []string{`{"$set": {"a": 1}}`}},
		{"operators without $v", `{"$set": {"a": 1}, "$unset": {"b": true}}`, wUpdate, []string{`{"$set": {"a": 1}, "$unset": {"b": true}}`}},
		{"ferretdb whole document", `{"$v": 1, "$set": {"_id": 1, "a": 1}}`, wReplace, nil},
		{"v2 update one field", `{"$v": 2, "diff": {"u": {"a": 1}}}`, wUpdate, []string{`{"$set": {"a": 1}}`}},
		{"v2 delete", `{"$v": 2, "diff": {"d": {"a": false}}}`, wUpdate, []string{`{"$unset": {"a": ""}}`}},
		{"v2 update and delete", `{"$v": 2, "diff": {"d": {"z": false}, "u": {"a": 1}}}`, wUpdate, []string{`{"$set": {"a": 1}, "$unset": {"z": ""}}`}},
		{"v2 insert moves to the end", `{"$v": 2, "diff": {"u": {"a": 1}, "i": {"b": 2}}}`, wUpdate, []string{`{"$unset": {"b": ""}}`, `{"$set": {"a": 1, "b": 2}}`}},
		{"v2 appends out of order", `{"$v": 2, "diff": {"i": {"b": 2, "a": 1}}}`, wDiff, nil},
		{"v2 update after insert in order", `{"$v": 2, "diff": {"u": {"z": 1}, "i": {"b": 2}}}`, wDiff, nil},
		{"v2 dotted field", `{"$v": 2, "diff": {"u": {"a.b": 1}}}`, wDiff, nil},
		{"v2 numeric field", `{"$v": 2, "diff": {"u": {"12": 1}}}`, wDiff, nil},
		{"v2 sub-diff", `{"$v": 2, "diff": {"sa": {"u": {"b": 1}}}}`, wDiff, nil},
		{"v2 array", `{"$v": 2, "diff": {"sa": {"a": true, "u0": 1}}}`, wDiff, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := entry{Op: "u", NS: "db.c", O: ejson(t, c.o), O2: ejson(t, `{"_id": 1, "shard": "x"}`)}
			w, err := updateWrite(&e)
			if err != nil {
				t.Fatal(err)
			}
			if w.kind != c.kind {
				t.Fatalf("kind %d, want %d", w.kind, c.kind)
			}
			if w.key != idKey(ejson(t, `{"_id": 1}`).Lookup("_id")) {
				t.Errorf("key from o2._id only: %q", w.key)
			}
			if len(w.update) != len(c.ops) {
				t.Fatalf("updates %v, want %v", w.update, c.ops)
			}
			for i := range c.ops {
				// {"b": true} and {"b": ""} are both what the server logs for $unset.
				if want := ejson(t, c.ops[i]); !bytes.Equal(w.update[i], want) && c.name != "operators without $v" {
					t.Errorf("update %d: got %s, want %s", i, w.update[i], want)
				}
			}
		})
	}
}

func TestIDKeyNumbers(t *testing.T) {
	k := func(v any) string {
		raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: v}})
		return idKey(bson.Raw(raw).Lookup("_id"))
	}
	if k(int32(1)) != k(int64(1)) || k(int32(1)) != k(1.0) {
		t.Error("1, NumberLong(1) and 1.0 are one _id")
	}
	if k(1.5) == k(int32(1)) || k("1") == k(int32(1)) {
		t.Error("1.5 and \"1\" are other _ids")
	}
}

// TestCRUDWithoutDocumentsRefused: CRUD entries that lack the documents their operation
// needs are refused as malformed (found by FuzzEntry: an update without o panicked while
// its replacement was built).
func TestCRUDWithoutDocumentsRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		doc  string
		tr   func(*entry) (*write, error)
	}{
		{"update without o", `{"op": "u", "ns": "db.c", "o2": {"_id": 1}}`, updateWrite},
		{"update without o2", `{"op": "u", "ns": "db.c", "o": {"a": 1}}`, updateWrite},
		{"update without o2._id", `{"op": "u", "ns": "db.c", "o": {"a": 1}, "o2": {}}`, updateWrite},
		{"insert without o", `{"op": "i", "ns": "db.c"}`, insertWrite},
		{"delete without o", `{"op": "d", "ns": "db.c"}`, deleteWrite},
	} {
		e, err := parseEntry(ejson(t, c.doc))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.tr(&e); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: got %v, want ErrBadEntry", c.name, err)
		}
	}
}
