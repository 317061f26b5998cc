package oplog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mongostash/mongostash/optime"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrBadEntry means an oplog entry lacks a field its operation needs, or has it with the
// wrong type.
var ErrBadEntry = errors.New("oplog: malformed entry")

// entry is one oplog entry, decoded only as far as routing it needs. The documents it
// carries (O, O2) stay raw and share the bytes of Raw.
type entry struct {
	Raw       bson.Raw
	TS        optime.Timestamp
	Op        string // i, u, d, c, n (and a few internal ones that are skipped)
	NS        string // "db.collection", or "db.$cmd" for commands
	O         bson.Raw
	O2        bson.Raw // nil when absent
	LSID      bson.Raw // session of a transaction or retryable write, nil when absent
	TxnNumber int64
	HasTxn    bool             // TxnNumber is set
	PrevTS    optime.Timestamp // prevOpTime.ts: the previous entry of the same transaction
	HasPrev   bool
	MultiOp   bool // multiOpType 1: a batched write in a retryable session, not a transaction
	FromMulti bool // an operation taken out of an applyOps entry (its TS is the parent's)
}

// CheckEntry returns why raw is not an oplog entry a replay can route (an error wrapping
// ErrBadEntry), or nil: what a dry run checks of the entries it does not apply.
func CheckEntry(raw bson.Raw) error {
	_, err := parseEntry(raw)
	return err
}

// parseEntry decodes the routing fields of an oplog entry.
func parseEntry(raw bson.Raw) (entry, error) {
	e := entry{Raw: raw}
	elems, err := raw.Elements()
	if err != nil {
		return e, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	for _, el := range elems {
		if err := e.setField(el); err != nil {
			return e, err
		}
	}
	if e.Op == "" {
		return e, fmt.Errorf("%w: entry at %s has no op field", ErrBadEntry, e.TS.String())
	}
	return e, nil
}

func (e *entry) setField(el bson.RawElement) error {
	v := el.Value()
	var ok bool
	switch key := el.Key(); key {
	case "ts":
		e.TS, ok = timestampOf(v)
	case "op", "ns":
		*e.stringField(key), ok = v.StringValueOK()
	case "o", "o2", "lsid": // kept raw: they share the entry's bytes
		*e.documentField(key), ok = v.DocumentOK()
	case "txnNumber":
		e.TxnNumber, ok = v.AsInt64OK()
		e.HasTxn = ok
	case "prevOpTime":
		var doc bson.Raw
		if doc, ok = v.DocumentOK(); ok {
			e.PrevTS, ok = timestampOf(doc.Lookup("ts"))
			e.HasPrev = ok
		}
	case "multiOpType":
		var n int64
		n, ok = v.AsInt64OK()
		e.MultiOp = n == 1
	default:
		return nil
	}
	if !ok {
		return fmt.Errorf("%w: field %q of the entry at %s has BSON type %s", ErrBadEntry, el.Key(), e.TS.String(), v.Type)
	}
	return nil
}

// stringField and documentField are the entry's fields that setField reads as a string
// and as a document, by key.
func (e *entry) stringField(key string) *string {
	if key == "op" {
		return &e.Op
	}
	return &e.NS
}

func (e *entry) documentField(key string) *bson.Raw {
	switch key {
	case "o":
		return &e.O
	case "o2":
		return &e.O2
	}
	return &e.LSID
}

// DB is the database of the entry's namespace.
func (e *entry) DB() string {
	db, _, _ := strings.Cut(e.NS, ".")
	return db
}

// Command is the name of a command entry's command (the first field of o), or "".
func (e *entry) Command() string {
	if e.Op != "c" || e.O == nil {
		return ""
	}
	el, err := e.O.IndexErr(0)
	if err != nil {
		return ""
	}
	return el.Key()
}

// IsTransaction reports whether the entry belongs to a multi-document transaction: an
// applyOps, commitTransaction or abortTransaction command in a session with a transaction
// number (batched writes of retryable sessions carry the same fields with multiOpType 1
// and are not transactions).
func (e *entry) IsTransaction() bool {
	if e.Op != "c" || e.LSID == nil || !e.HasTxn || e.MultiOp {
		return false
	}
	switch e.Command() {
	case "applyOps", "commitTransaction", "abortTransaction":
		return true
	}
	return false
}

// describe names the entry in errors: its timestamp, operation and namespace.
func (e *entry) describe() string {
	s := fmt.Sprintf("oplog entry at %s (op %q on %s", e.TS.String(), e.Op, e.NS)
	if c := e.Command(); c != "" {
		s += ", command " + c
	}
	if e.FromMulti {
		s += ", inside applyOps"
	}
	return s + ")"
}
