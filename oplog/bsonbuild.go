package oplog

import (
	"encoding/binary"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Small helpers to build BSON byte by byte: documents computed from diffs must keep
// the exact field order and value bytes, which a bson.D round trip would not promise for
// every type.

// beginDoc appends a placeholder length and returns where the document starts.
func beginDoc(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// endDoc appends the terminating null byte and writes the length at start.
func endDoc(dst []byte, start int) []byte {
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// appendValue appends one element: type byte, key, value bytes.
func appendValue(dst []byte, key string, v bson.RawValue) []byte {
	dst = append(dst, byte(v.Type))
	dst = append(dst, key...)
	dst = append(dst, 0)
	return append(dst, v.Value...)
}

// appendNull appends key: null.
func appendNull(dst []byte, key string) []byte {
	dst = append(dst, byte(bson.TypeNull))
	dst = append(dst, key...)
	return append(dst, 0)
}

// appendBinary appends key: BinData(subtype, data).
func appendBinary(dst []byte, key string, subtype byte, data []byte) []byte {
	dst = append(dst, byte(bson.TypeBinary))
	dst = append(dst, key...)
	dst = append(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = append(dst, subtype)
	return append(dst, data...)
}

// appendKey appends the type byte and key of an element whose value the caller appends.
func appendKey(dst []byte, t bson.Type, key string) []byte {
	dst = append(dst, byte(t))
	dst = append(dst, key...)
	return append(dst, 0)
}

// arrayKey is the key of array index i.
func arrayKey(i int) string { return strconv.Itoa(i) }

// mustElements returns the elements of doc, or none when it is malformed (callers only
// use it on documents that already passed a parse).
func mustElements(doc bson.Raw) []bson.RawElement {
	elems, _ := doc.Elements()
	return elems
}
