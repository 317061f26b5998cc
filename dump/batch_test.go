package dump

import (
	"bytes"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

func mustMarshal(t testing.TB, v any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInsertCommandBytes: a sealed batch is byte for byte the insert command the driver
// would marshal from the same fields, for every combination of options.
func TestInsertCommandBytes(t *testing.T) {
	docs := []bson.Raw{
		mustMarshal(t, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "x"}}),
		mustMarshal(t, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "n", Value: bson.D{{Key: "deep", Value: bson.A{1, 2.5, nil}}}}}),
		mustMarshal(t, bson.D{}),
	}
	yes := true
	for _, tc := range []struct {
		name   string
		bypass bool
		wc     *writeconcern.WriteConcern
		extra  bson.D // expected fields between ordered and documents
	}{
		{"plain", false, nil, nil},
		{"bypass", true, nil, bson.D{{Key: "bypassDocumentValidation", Value: true}}},
		{"majority", false, writeconcern.Majority(), bson.D{{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}}}}},
		{"w2 journaled", true, &writeconcern.WriteConcern{W: 2, Journal: &yes},
			bson.D{{Key: "bypassDocumentValidation", Value: true}, {Key: "writeConcern", Value: bson.D{{Key: "w", Value: 2}, {Key: "j", Value: true}}}}},
		{"empty write concern", false, &writeconcern.WriteConcern{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatch(insertHeader("orders.v2", tc.bypass, tc.wc), 0)
			for _, d := range docs {
				if !b.fits(d) {
					b = growForTest(b)
				}
				b.add(d)
			}
			b.seal()
			want := bson.D{{Key: "insert", Value: "orders.v2"}, {Key: "ordered", Value: false}}
			want = append(want, tc.extra...)
			arr := bson.A{}
			for _, d := range docs {
				arr = append(arr, d)
			}
			want = append(want, bson.E{Key: "documents", Value: arr})
			if wantRaw := mustMarshal(t, want); !bytes.Equal(b.cmd, wantRaw) {
				t.Fatalf("command\n got %s\nwant %s", bson.Raw(b.cmd), wantRaw)
			}
			for i, d := range docs {
				if !bytes.Equal(b.doc(i), d) {
					t.Errorf("doc(%d) = %s, want %s", i, b.doc(i), d)
				}
			}
		})
	}
}

// growForTest copies a batch into a larger buffer (restore never grows one: it starts
// the next batch instead).
func growForTest(b *batch) *batch {
	nb := &batch{cmd: make([]byte, len(b.cmd), 2*cap(b.cmd)+1024), arr: b.arr, offs: b.offs, docBytes: b.docBytes}
	copy(nb.cmd, b.cmd)
	return nb
}

// TestBatchFits: a batch takes documents up to its buffer's size, index keys included, and
// never outgrows it.
func TestBatchFits(t *testing.T) {
	doc := mustMarshal(t, bson.D{{Key: "s", Value: string(make([]byte, 990))}})
	header := insertHeader("c", false, nil)
	b := newBatch(header, len(header)+2500)
	n := 0
	for b.fits(doc) {
		b.add(doc)
		n++
	}
	if n != 2 {
		t.Fatalf("%d documents of %d bytes fit in %d bytes, want 2", n, len(doc), cap(b.cmd))
	}
	c := cap(b.cmd)
	b.seal()
	if cap(b.cmd) != c {
		t.Fatalf("seal grew the buffer from %d to %d", c, cap(b.cmd))
	}
	// Index keys grow with the count: the trailer reserve covers 7 digits.
	big := newBatch(header, maxCommandBytes)
	small := mustMarshal(t, bson.D{})
	for i := 0; big.fits(small); i++ {
		big.add(small)
	}
	c = cap(big.cmd)
	big.seal()
	if cap(big.cmd) != c || big.len() < 1_000_001 {
		t.Fatalf("%d documents, buffer %d → %d", big.len(), c, cap(big.cmd))
	}
}

// TestBatchAddAllocatesNothing: copying a document into a batch allocates nothing, so a
// restore's allocations do not grow with the number of documents.
func TestBatchAddAllocatesNothing(t *testing.T) {
	doc := mustMarshal(t, bson.D{{Key: "_id", Value: 7}, {Key: "payload", Value: fmt.Sprint(make([]int, 100))}})
	header := insertHeader("c", true, writeconcern.Majority())
	b := newBatch(header, len(header)+1000*(len(doc)+batchTrailer))
	if a := testing.AllocsPerRun(900, func() { b.add(doc) }); a != 0 {
		t.Errorf("%v allocations per document", a)
	}
}
