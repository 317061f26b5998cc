package oplog

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ejson parses relaxed Extended JSON into BSON bytes, keeping field order and the types
// it implies (1 is int32).
func ejson(tb testing.TB, s string) bson.Raw {
	tb.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		tb.Fatalf("extended JSON %s: %v", s, err)
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// rawJSON turns a json.RawMessage holding a document into BSON.
func rawJSON(tb testing.TB, m json.RawMessage) bson.Raw {
	tb.Helper()
	return ejson(tb, string(m))
}

// readBSONFile reads a file of concatenated BSON documents (a mongodump .bson file).
func readBSONFile(tb testing.TB, path string) []bson.Raw {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var docs []bson.Raw
	for {
		var head [4]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return docs
			}
			tb.Fatalf("%s: %v", path, err)
		}
		doc := make([]byte, binary.LittleEndian.Uint32(head[:]))
		copy(doc, head[:])
		if _, err := io.ReadFull(r, doc[4:]); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, doc)
	}
}
