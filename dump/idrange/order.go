package idrange

import (
	"bytes"
	"cmp"
	"encoding/binary"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Bracket is a class of BSON types that MongoDB orders together: its comparison query
// operators ($lt, $gte, …) only match values of the operand's bracket ("type bracketing"),
// and values of different brackets sort by bracket. The numbers (int32, int64, double,
// decimal) are one bracket, strings and symbols another. The constants are in BSON order.
type Bracket int

const (
	MinKey Bracket = iota
	Undefined
	Null
	Number
	String // strings and symbols
	Object
	Array
	Binary
	ObjectID
	Bool
	Date
	Timestamp
	Regex
	DBPointer
	Code
	CodeWithScope
	MaxKey
)

// BracketOf returns the bracket of a BSON type.
func BracketOf(t bson.Type) Bracket {
	switch t {
	case bson.TypeMinKey:
		return MinKey
	case bson.TypeUndefined:
		return Undefined
	case bson.TypeNull:
		return Null
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return Number
	case bson.TypeString, bson.TypeSymbol:
		return String
	case bson.TypeEmbeddedDocument:
		return Object
	case bson.TypeArray:
		return Array
	case bson.TypeBinary:
		return Binary
	case bson.TypeObjectID:
		return ObjectID
	case bson.TypeBoolean:
		return Bool
	case bson.TypeDateTime:
		return Date
	case bson.TypeTimestamp:
		return Timestamp
	case bson.TypeRegex:
		return Regex
	case bson.TypeDBPointer:
		return DBPointer
	case bson.TypeJavaScript:
		return Code
	case bson.TypeCodeWithScope:
		return CodeWithScope
	}
	return MaxKey
}

// Compare orders two BSON values as MongoDB sorts them (simple collation): first by
// bracket, then within it — numbers by value whatever their types (NaN below all others),
// strings by their UTF-8 bytes, documents element by element (each element by bracket,
// then name, then value; a prefix first), binary data by length, then subtype, then bytes,
// ObjectIds by bytes, dates as signed and timestamps as unsigned integers. It returns
// -1, 0 or +1.
func Compare(a, b bson.RawValue) int {
	ba, bb := BracketOf(a.Type), BracketOf(b.Type)
	if ba != bb {
		return cmp.Compare(int(ba), int(bb))
	}
	switch ba {
	case Number:
		return compareNumbers(a, b)
	case String:
		return bytes.Compare(stringBytes(a), stringBytes(b))
	case Object, Array:
		return compareDocuments(a.Value, b.Value)
	case Binary:
		return compareBinary(a.Value, b.Value)
	case ObjectID, DBPointer:
		return compareSized(a.Value, b.Value)
	case Bool:
		return cmp.Compare(int(a.Value[0]), int(b.Value[0]))
	case Date:
		return cmp.Compare(a.DateTime(), b.DateTime())
	case Timestamp:
		return compareUint64(binary.LittleEndian.Uint64(a.Value), binary.LittleEndian.Uint64(b.Value))
	case Regex:
		pa, oa := a.Regex()
		pb, ob := b.Regex()
		if c := bytes.Compare([]byte(pa), []byte(pb)); c != 0 {
			return c
		}
		return bytes.Compare([]byte(oa), []byte(ob))
	case Code:
		return bytes.Compare([]byte(a.JavaScript()), []byte(b.JavaScript()))
	case CodeWithScope:
		ca, sa := a.CodeWithScope()
		cb, sb := b.CodeWithScope()
		if c := bytes.Compare([]byte(ca), []byte(cb)); c != 0 {
			return c
		}
		return compareDocuments(sa, sb)
	}
	return 0 // MinKey, Undefined, Null, MaxKey: one value each
}

// stringBytes is the text of a string or symbol, without its length and NUL.
func stringBytes(v bson.RawValue) []byte {
	if len(v.Value) < 5 {
		return nil
	}
	return v.Value[4 : len(v.Value)-1]
}

// compareDocuments orders two documents (or arrays) element by element.
func compareDocuments(a, b []byte) int {
	ea, _ := bson.Raw(a).Elements()
	eb, _ := bson.Raw(b).Elements()
	for i := 0; i < len(ea) && i < len(eb); i++ {
		va, vb := ea[i].Value(), eb[i].Value()
		if c := cmp.Compare(int(BracketOf(va.Type)), int(BracketOf(vb.Type))); c != 0 {
			return c
		}
		if c := bytes.Compare([]byte(ea[i].Key()), []byte(eb[i].Key())); c != 0 {
			return c
		}
		if c := Compare(va, vb); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ea), len(eb))
}

// compareBinary orders binary data by length, then subtype, then bytes: the length prefix
// as a number, then the subtype byte and the data together.
func compareBinary(a, b []byte) int {
	if len(a) < 5 || len(b) < 5 {
		return cmp.Compare(len(a), len(b))
	}
	la, lb := binary.LittleEndian.Uint32(a), binary.LittleEndian.Uint32(b)
	if la != lb {
		return compareUint64(uint64(la), uint64(lb))
	}
	return bytes.Compare(a[4:], b[4:])
}

// compareSized orders values of one fixed layout by length, then bytes.
func compareSized(a, b []byte) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return bytes.Compare(a, b)
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
