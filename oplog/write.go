package oplog

import (
	"fmt"
	"math"
	"strings"

	"github.com/mongostash/mongostash/optime"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// writeKind is what a CRUD entry becomes.
type writeKind int

const (
	wInsert  writeKind = iota // an insert: replace-upsert of the whole document by _id
	wReplace                  // a replacement of an existing document (never upserted)
	wUpdate                   // update operators, exact as they are ($v:1, or a $v:2 diff they express exactly)
	wDiff                     // a $v:2 diff applied here to the current document, then written as a wReplace
	wDelete                   // delete by _id
)

// Updates are never upserts: an update whose document is missing is an update of a
// document that a later entry deletes (the dump was read after that delete), so creating
// it would only make something to delete again.

// write is one CRUD operation of the replay, for one namespace.
type write struct {
	kind   writeKind
	key    string        // identity of the document (see idKey)
	id     bson.RawValue // _id
	doc    bson.Raw      // wInsert: the new document
	update []bson.Raw    // wUpdate: update documents, applied in order (the last one upserts)
	diff   bson.Raw      // wDiff: the diff; wUpdate from a $v:2 entry: the diff it expresses
	ts     optime.Timestamp
	size   int // bytes it holds, for the batch's budget
}

// idKey identifies a document by its _id value. Numbers of different BSON types that
// compare equal in MongoDB (1, 1.0, NumberLong(1)) are the same _id, so whole numbers
// share one key; every other value is keyed by its type and bytes.
func idKey(v bson.RawValue) string {
	if f, ok := wholeNumber(v); ok {
		return "n" + fmt.Sprint(f)
	}
	b := make([]byte, 0, 1+len(v.Value))
	b = append(b, byte(v.Type))
	return string(append(b, v.Value...))
}

func wholeNumber(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	case bson.TypeDouble:
		f := v.Double()
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	}
	return 0, false
}

// insertWrite turns an "i" entry into a replace-upsert by _id. Entries of sharded
// collections carry the document key in o2; the _id of the document itself is enough
// here, and matching on a shard key value that changed later would create a duplicate.
func insertWrite(e *entry) (*write, error) {
	id, err := e.O.LookupErr("_id")
	if err != nil {
		return nil, fmt.Errorf("%w: insert without _id", ErrBadEntry)
	}
	return &write{kind: wInsert, key: idKey(id), id: id, doc: e.O, ts: e.TS, size: len(e.O)}, nil
}

// deleteWrite turns a "d" entry into a delete by _id (o is the document key: _id and,
// for sharded collections, the shard key, which is left out for the same reason).
func deleteWrite(e *entry) (*write, error) {
	id, err := e.O.LookupErr("_id")
	if err != nil {
		return nil, fmt.Errorf("%w: delete without _id", ErrBadEntry)
	}
	return &write{kind: wDelete, key: idKey(id), id: id, ts: e.TS, size: len(e.O)}, nil
}

// updateWrite turns a "u" entry into the exact write that gives the document the server
// gave it:
//   - no "$v" and no operator: o is the whole new document (a replacement);
//   - "$v": 1, or no "$v" with operators: the $set/$unset the server logged, run as they
//     are (the form of MongoDB up to 4.4, and of FerretDB);
//   - "$v": 2 with a diff: update operators when they express the diff exactly,
//     otherwise the diff, applied to the current document by the replay.
func updateWrite(e *entry) (*write, error) {
	if e.O == nil || e.O2 == nil {
		return nil, fmt.Errorf("%w: update without o or o2", ErrBadEntry)
	}
	id, err := e.O2.LookupErr("_id")
	if err != nil {
		return nil, fmt.Errorf("%w: update without o2._id", ErrBadEntry)
	}
	w := &write{key: idKey(id), id: id, ts: e.TS, size: len(e.O) + len(e.O2)}
	version, hasVersion := e.O.Lookup("$v").AsInt64OK()
	first, _ := e.O.IndexErr(0)
	switch {
	case hasVersion && version == 2:
		diff, ok := e.O.Lookup("diff").DocumentOK()
		if !ok {
			return nil, fmt.Errorf("%w: $v:2 update without a diff document", ErrBadEntry)
		}
		if len(diff) <= 5 {
			return nil, fmt.Errorf("%w: $v:2 update with an empty diff", ErrBadDiff)
		}
		if ops, ok := diffAsOperators(diff); ok {
			w.kind, w.update, w.diff = wUpdate, ops, diff
			return w, nil
		}
		w.kind, w.diff = wDiff, diff
		return w, nil
	case hasVersion && version != 1:
		return nil, fmt.Errorf("%w: update format $v:%d", ErrUnknownOp, version)
	case hasVersion || (first != nil && strings.HasPrefix(first.Key(), "$")):
		return operatorWrite(w, e.O, id)
	default:
		w.kind, w.doc = wReplace, withID(e.O, id)
		return w, nil
	}
}

// operatorWrite handles the $v:1 form: only $set and $unset are ever logged.
func operatorWrite(w *write, o bson.Raw, id bson.RawValue) (*write, error) {
	elems, err := o.Elements()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	var set, unset bson.Raw
	for _, el := range elems {
		switch el.Key() {
		case "$v":
		case "$set":
			set, _ = el.Value().DocumentOK()
		case "$unset":
			unset, _ = el.Value().DocumentOK()
		default:
			return nil, fmt.Errorf("%w: update operator %s in a $v:1 entry", ErrUnknownOp, el.Key())
		}
	}
	if set == nil && unset == nil {
		return nil, fmt.Errorf("%w: $v:1 update without $set or $unset", ErrBadEntry)
	}
	// FerretDB logs every update as {$v:1, $set: <whole new document>}, _id first; a
	// server never $sets _id. Taken as a $set it would keep fields the update removed,
	// so it is what it means: a replacement.
	if unset == nil && set != nil {
		if first, err := set.IndexErr(0); err == nil && first.Key() == "_id" && idKey(first.Value()) == w.key {
			w.kind, w.doc = wReplace, set
			return w, nil
		}
	}
	upd, start := beginDoc(nil)
	if set != nil {
		upd = appendValue(upd, "$set", bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: set})
	}
	if unset != nil {
		upd = appendValue(upd, "$unset", bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: unset})
	}
	w.kind, w.update = wUpdate, []bson.Raw{endDoc(upd, start)}
	return w, nil
}

// withID returns doc with _id first: a replacement logged without its _id keeps the one
// of o2, as the server does.
func withID(doc bson.Raw, id bson.RawValue) bson.Raw {
	if _, err := doc.LookupErr("_id"); err == nil {
		return doc
	}
	out, start := beginDoc(make([]byte, 0, len(doc)+len(id.Value)+8))
	out = appendValue(out, "_id", id)
	out = append(out, doc[4:len(doc)-1]...)
	return endDoc(out, start)
}

// diffAsOperators expresses a $v:2 diff as update operators when that is exact for every
// possible current document: only top-level u, i and d sections, on field names an
// operator takes literally (no dot, no leading $, not all digits, not _id), and the
// fields that may be appended (u then i, the server's order) already in the lexicographic
// order in which a $set appends new fields. An i field that exists must move to the end,
// so i fields are $unset first, by a separate update.
func diffAsOperators(diff bson.Raw) ([]bson.Raw, bool) {
	elems, err := diff.Elements()
	if err != nil {
		return nil, false
	}
	var upd, ins, del []bson.RawElement
	for _, el := range elems {
		section, ok := el.Value().DocumentOK()
		if !ok {
			return nil, false
		}
		fields, err := section.Elements()
		if err != nil {
			return nil, false
		}
		switch el.Key() {
		case "u":
			upd = append(upd, fields...)
		case "i":
			ins = append(ins, fields...)
		case "d":
			del = append(del, fields...)
		default:
			return nil, false
		}
	}
	set := append(upd, ins...)
	if !plainFields(set, true) || !plainFields(del, false) {
		return nil, false
	}
	if len(ins) == 0 {
		return []bson.Raw{operatorDoc(set, del)}, true
	}
	return []bson.Raw{operatorDoc(nil, append(ins, del...)), operatorDoc(set, nil)}, true
}

// plainFields checks the field names for diffAsOperators, and with ordered that they are
// strictly increasing.
func plainFields(fields []bson.RawElement, ordered bool) bool {
	prev := ""
	for i, el := range fields {
		k := el.Key()
		if k == "" || k == "_id" || strings.ContainsRune(k, '.') || k[0] == '$' || strings.Trim(k, "0123456789") == "" {
			return false
		}
		if ordered && i > 0 && k <= prev {
			return false
		}
		prev = k
	}
	return true
}

// operatorDoc builds {$set: {...}, $unset: {f: ""...}}, leaving out an empty part.
func operatorDoc(set, unset []bson.RawElement) bson.Raw {
	out, start := beginDoc(nil)
	if len(set) > 0 {
		var sub int
		out, sub = beginDoc(appendKey(out, bson.TypeEmbeddedDocument, "$set"))
		for _, el := range set {
			out = append(out, el...)
		}
		out = endDoc(out, sub)
	}
	if len(unset) > 0 {
		var sub int
		out, sub = beginDoc(appendKey(out, bson.TypeEmbeddedDocument, "$unset"))
		for _, el := range unset {
			out = appendValue(out, el.Key(), bson.RawValue{Type: bson.TypeString, Value: emptyString})
		}
		out = endDoc(out, sub)
	}
	return endDoc(out, start)
}

// emptyString is the value bytes of the BSON string "".
var emptyString = []byte{1, 0, 0, 0, 0}
