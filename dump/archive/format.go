package archive

import (
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MaxDocumentSize is the largest document (length prefix through trailing
// null byte) allowed anywhere in an archive: MongoDB's MaxBSONSize.
const MaxDocumentSize = 16 * 1024 * 1024

// FormatVersion is the archive format version every mongodump writes.
const FormatVersion = "0.1"

const (
	magic      = 0x8199E26D
	terminator = 0xFFFFFFFF
	minDocSize = 5
)

// crcTable is CRC-64/XZ: the ECMA-182 polynomial, reflected, as mongodump uses.
var crcTable = crc64.MakeTable(crc64.ECMA)

// Header is the archive header document that opens the prelude.
type Header struct {
	// ConcurrentCollections is the most namespaces open at once in the data
	// section (mongodump's -j). mongorestore runs max(this, its -j) workers.
	ConcurrentCollections int32
	// Version is the format version; the Writer writes FormatVersion when empty.
	Version string
	// ServerVersion is the source server's buildInfo.version; it must parse as
	// MAJOR.MINOR.PATCH (suffixes after '-' or '+' ignored).
	ServerVersion string
	// ToolVersion is free text naming the writing tool.
	ToolVersion string
}

// Entry is one collection entry of the prelude.
type Entry struct {
	DB         string // "" only for the oplog
	Collection string // logical name; for time-series never system.buckets.X
	Metadata   string // metadata JSON text, "" when none
	Size       int32  // informational, mongodump always writes 0
	Type       string // "collection", "view", "timeseries" or ""
}

// Namespace returns DB + "." + Collection (".oplog" for the oplog).
func (e Entry) Namespace() string { return e.DB + "." + e.Collection }

// DataNamespace is the namespace under which e's documents appear in the data
// section: for Type "timeseries" with serverVersion < 8.3.0 it is
// DB+".system.buckets."+Collection, else Namespace().
func (e Entry) DataNamespace(serverVersion string) (string, error) {
	db, coll, err := e.dataNamespace(serverVersion)
	if err != nil {
		return "", err
	}
	return db + "." + coll, nil
}

func (e Entry) dataNamespace(serverVersion string) (db, coll string, err error) {
	if e.Type != "timeseries" || e.DB == "" {
		return e.DB, e.Collection, nil
	}
	v, err := parseServerVersion(serverVersion)
	if err != nil {
		return "", "", err
	}
	if v.less(version{8, 3, 0}) {
		return e.DB, "system.buckets." + e.Collection, nil
	}
	return e.DB, e.Collection, nil
}

// Prelude is the archive header and its collection entries.
type Prelude struct {
	Header  Header
	Entries []Entry
}

type version [3]int

func (v version) less(o version) bool {
	for i := range v {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

// parseServerVersion accepts MAJOR.MINOR.PATCH in decimal, ignoring anything
// from the first '-' or '+' on, as mongorestore does.
func parseServerVersion(s string) (version, error) {
	var v version
	t := s
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("%w: server_version %q is not MAJOR.MINOR.PATCH", ErrBadPrelude, s)
	}
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.Trim(p, "0123456789") != "" {
			return v, fmt.Errorf("%w: server_version %q is not MAJOR.MINOR.PATCH", ErrBadPrelude, s)
		}
		v[i], _ = strconv.Atoi(p)
	}
	return v, nil
}

// Namespace kinds that matter for ordering.
func isOplog(db, coll string) bool { return db == "" && coll == "oplog" }

func nsKey(db, coll string) string { return db + "\x00" + coll }

// checkPrelude validates a prelude the same way for the Writer and the Reader
// and returns the data namespaces of its entries, in entry order.
func checkPrelude(p *Prelude) ([][2]string, error) {
	if _, err := parseServerVersion(p.Header.ServerVersion); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, 2*len(p.Entries))
	data := make([][2]string, len(p.Entries))
	for i, e := range p.Entries {
		switch {
		case e.Collection == "":
			return nil, fmt.Errorf("%w: entry %d (db %q) has an empty collection name", ErrBadPrelude, i, e.DB)
		case strings.ContainsRune(e.DB, 0) || strings.ContainsRune(e.Collection, 0):
			return nil, fmt.Errorf("%w: entry %d: namespace %q contains a null byte", ErrBadPrelude, i, e.Namespace())
		case strings.ContainsRune(e.DB, '.'):
			return nil, fmt.Errorf("%w: entry %d: database name %q contains a dot", ErrBadPrelude, i, e.DB)
		case e.DB == "" && e.Collection != "oplog":
			return nil, fmt.Errorf("%w: entry %d: empty database name for collection %q (only the oplog has none)", ErrBadPrelude, i, e.Collection)
		}
		db, coll, err := e.dataNamespace(p.Header.ServerVersion)
		if err != nil {
			return nil, err
		}
		for _, k := range []string{"n" + nsKey(e.DB, e.Collection), "d" + nsKey(db, coll)} {
			if seen[k] {
				return nil, fmt.Errorf("%w: namespace %q listed twice", ErrBadPrelude, e.Namespace())
			}
			seen[k] = true
		}
		data[i] = [2]string{db, coll}
	}
	return data, nil
}

// BSON building helpers for the framing documents (never user documents).

func appendCString(b []byte, s string) []byte { return append(append(b, s...), 0) }

func appendStringElem(b []byte, key, val string) []byte {
	b = appendCString(append(b, 0x02), key)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(val)+1))
	return appendCString(b, val)
}

func appendInt32Elem(b []byte, key string, v int32) []byte {
	b = appendCString(append(b, 0x10), key)
	return binary.LittleEndian.AppendUint32(b, uint32(v))
}

func beginDoc(b []byte) ([]byte, int) { return append(b, 0, 0, 0, 0), len(b) }

func endDoc(b []byte, start int) []byte {
	b = append(b, 0)
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

func appendHeaderDoc(b []byte, h Header) []byte {
	b, s := beginDoc(b)
	b = appendInt32Elem(b, "concurrent_collections", h.ConcurrentCollections)
	b = appendStringElem(b, "version", h.Version)
	b = appendStringElem(b, "server_version", h.ServerVersion)
	b = appendStringElem(b, "tool_version", h.ToolVersion)
	return endDoc(b, s)
}

func appendEntryDoc(b []byte, e Entry, withType bool) []byte {
	b, s := beginDoc(b)
	b = appendStringElem(b, "db", e.DB)
	b = appendStringElem(b, "collection", e.Collection)
	b = appendStringElem(b, "metadata", e.Metadata)
	b = appendInt32Elem(b, "size", e.Size)
	if withType {
		b = appendStringElem(b, "type", e.Type)
	}
	return endDoc(b, s)
}

// writesEntryType reports whether collection entries carry the "type" field.
// Tools before 100.4.0 did not write it; when the header names such a tool
// (as a copy of an old archive does) and no entry has a type, entries are
// written as that tool did, so that old archives re-encode byte for byte.
func writesEntryType(p *Prelude) bool {
	for _, e := range p.Entries {
		if e.Type != "" {
			return true
		}
	}
	return !isLegacyTool(p.Header.ToolVersion)
}

// isLegacyTool reports whether a tool_version names a mongodump older than
// 100.4.0: "r3.4.3", "r4.2.2", "100.3.1", …
func isLegacyTool(v string) bool {
	v = strings.TrimPrefix(v, "r")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || major < 2 {
		return false
	}
	return major < 100 || major == 100 && minor < 4
}

func appendNSHeader(b []byte, db, coll string, eof bool, crc uint64) []byte {
	b, s := beginDoc(b)
	b = appendStringElem(b, "db", db)
	b = appendStringElem(b, "collection", coll)
	b = appendCString(append(b, 0x08), "EOF")
	if eof {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendCString(append(b, 0x12), "CRC")
	b = binary.LittleEndian.AppendUint64(b, crc)
	return endDoc(b, s)
}

func appendTerm(b []byte) []byte { return append(b, 0xFF, 0xFF, 0xFF, 0xFF) }

// checkDoc checks what the format requires of every document: a length
// prefix equal to its length, within 5..MaxDocumentSize, and a final 0x00.
func checkDoc(doc []byte) error {
	n := len(doc)
	if n < minDocSize || n > MaxDocumentSize {
		return fmt.Errorf("%w: %d bytes (must be %d..%d)", ErrDocumentSize, n, minDocSize, MaxDocumentSize)
	}
	if l := binary.LittleEndian.Uint32(doc); l != uint32(n) {
		return fmt.Errorf("%w: length prefix %d but %d bytes given", ErrDocumentSize, l, n)
	}
	if doc[n-1] != 0 {
		return fmt.Errorf("%w: last byte 0x%02x", ErrBadDocument, doc[n-1])
	}
	return nil
}

// parseNSHeader decodes a namespace header strictly: only db and collection
// (strings), EOF (boolean) and CRC (int64), each at most once. doc has passed
// the length and trailing-byte checks. The returned slices alias doc.
func parseNSHeader(doc []byte) (db, coll []byte, eof bool, crc uint64, err error) {
	end := len(doc) - 1 // index of the document's final 0x00
	var seen [4]bool
	h := nsHeaderValues{}
	i := 4
	for {
		if i >= end {
			if i == end {
				break
			}
			return nil, nil, false, 0, fmt.Errorf("element overruns the document")
		}
		t := doc[i]
		if t == 0 {
			return nil, nil, false, 0, fmt.Errorf("null byte before the end of the document")
		}
		i++
		k := i
		for k < end && doc[k] != 0 {
			k++
		}
		if k >= end {
			return nil, nil, false, 0, fmt.Errorf("unterminated field name")
		}
		name := doc[i:k]
		i = k + 1
		f, known := nsHeaderFields[string(name)]
		switch {
		case !known:
			return nil, nil, false, 0, fmt.Errorf("unexpected field %q", name)
		case t != f.bsonType:
			return nil, nil, false, 0, fmt.Errorf("field %q has BSON type 0x%02x, want 0x%02x", name, t, f.bsonType)
		case seen[f.index]:
			return nil, nil, false, 0, fmt.Errorf("field %q appears twice", name)
		}
		seen[f.index] = true
		if i, err = h.read(doc[:end], i, f.index, name); err != nil {
			return nil, nil, false, 0, err
		}
	}
	if len(h.coll) == 0 {
		return nil, nil, false, 0, fmt.Errorf("empty collection name")
	}
	return h.db, h.coll, h.eof, h.crc, nil
}

// nsHeaderField is one field a namespace header may have: its place and its BSON type.
type nsHeaderField struct {
	index    int
	bsonType byte
}

var nsHeaderFields = map[string]nsHeaderField{
	"db":         {0, 0x02},
	"collection": {1, 0x02},
	"EOF":        {2, 0x08},
	"CRC":        {3, 0x12},
}

// nsHeaderValues are the values of a namespace header as parseNSHeader reads them.
type nsHeaderValues struct {
	db, coll []byte
	eof      bool
	crc      uint64
}

// read reads the value of field (nsHeaderFields' index) at doc[i:], doc ending before the
// document's final 0x00, and returns the index after it.
func (h *nsHeaderValues) read(doc []byte, i, field int, name []byte) (int, error) {
	end := len(doc)
	switch field {
	case 0, 1:
		if end-i < 5 {
			return 0, fmt.Errorf("field %q overruns the document", name)
		}
		l := binary.LittleEndian.Uint32(doc[i:])
		if l < 1 || l > uint32(end-i-4) || doc[i+4+int(l)-1] != 0 {
			return 0, fmt.Errorf("field %q has a bad string length %d", name, int32(l))
		}
		s := doc[i+4 : i+4+int(l)-1]
		if field == 0 {
			h.db = s
		} else {
			h.coll = s
		}
		return i + 4 + int(l), nil
	case 2:
		if end-i < 1 || doc[i] > 1 {
			return 0, fmt.Errorf("field %q is not a valid boolean", name)
		}
		h.eof = doc[i] == 1
		return i + 1, nil
	default:
		if end-i < 8 {
			return 0, fmt.Errorf("field %q overruns the document", name)
		}
		h.crc = binary.LittleEndian.Uint64(doc[i:])
		return i + 8, nil
	}
}

// Lenient decoding of the prelude documents, as mongorestore's struct decoding:
// unknown fields are ignored, missing ones (and nulls) stay zero.

// The *OK accessors: the plain ones panic on malformed values.

func rawString(v bson.RawValue, name string) (string, error) {
	switch v.Type {
	case bson.TypeString:
		if s, ok := v.StringValueOK(); ok {
			return s, nil
		}
		return "", fmt.Errorf("field %q is a malformed string", name)
	case bson.TypeNull, bson.TypeUndefined:
		return "", nil
	}
	return "", fmt.Errorf("field %q has BSON type %s, want string", name, v.Type)
}

func rawInt32(v bson.RawValue, name string) (int32, error) {
	switch v.Type {
	case bson.TypeInt32:
		if n, ok := v.Int32OK(); ok {
			return n, nil
		}
	case bson.TypeInt64:
		if n, ok := v.Int64OK(); ok && n >= math.MinInt32 && n <= math.MaxInt32 {
			return int32(n), nil
		}
	case bson.TypeDouble:
		if f, ok := v.DoubleOK(); ok && f == math.Trunc(f) && f >= math.MinInt32 && f <= math.MaxInt32 {
			return int32(f), nil
		}
	case bson.TypeNull, bson.TypeUndefined:
		return 0, nil
	default:
		return 0, fmt.Errorf("field %q has BSON type %s, want int32", name, v.Type)
	}
	return 0, fmt.Errorf("field %q (BSON %s) is malformed or does not fit an int32", name, v.Type)
}

func decodeHeader(doc []byte) (Header, error) {
	var h Header
	if err := bson.Raw(doc).Validate(); err != nil {
		return h, err
	}
	elems, err := bson.Raw(doc).Elements()
	if err != nil {
		return h, err
	}
	for _, el := range elems {
		v := el.Value()
		switch el.Key() {
		case "concurrent_collections":
			h.ConcurrentCollections, err = rawInt32(v, el.Key())
		case "version":
			h.Version, err = rawString(v, el.Key())
		case "server_version":
			h.ServerVersion, err = rawString(v, el.Key())
		case "tool_version":
			h.ToolVersion, err = rawString(v, el.Key())
		}
		if err != nil {
			return h, err
		}
	}
	return h, nil
}

func decodeEntry(doc []byte) (Entry, error) {
	var e Entry
	if err := bson.Raw(doc).Validate(); err != nil {
		return e, err
	}
	elems, err := bson.Raw(doc).Elements()
	if err != nil {
		return e, err
	}
	for _, el := range elems {
		v := el.Value()
		switch el.Key() {
		case "db":
			e.DB, err = rawString(v, el.Key())
		case "collection":
			e.Collection, err = rawString(v, el.Key())
		case "metadata":
			e.Metadata, err = rawString(v, el.Key())
		case "size":
			e.Size, err = rawInt32(v, el.Key())
		case "type":
			e.Type, err = rawString(v, el.Key())
		}
		if err != nil {
			return e, err
		}
	}
	return e, nil
}
