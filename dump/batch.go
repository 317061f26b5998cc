package dump

import (
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// batch is a group of documents for one insert. The documents are copied into one
// buffer, because the archive reader reuses its own.
type batch struct {
	buf    []byte
	offs   []int
	docs   []bson.Raw
	weight int64 // share of the restore's memory budget it holds
}

var batchPool = sync.Pool{New: func() any { return &batch{} }}

func getBatch() *batch { return batchPool.Get().(*batch) }

func putBatch(b *batch) {
	b.buf, b.offs, b.docs = b.buf[:0], b.offs[:0], b.docs[:0]
	batchPool.Put(b)
}

// add copies doc into the batch. docs are re-sliced from buf after every append,
// because append may move buf.
func (b *batch) add(doc []byte) {
	start := len(b.buf)
	old := cap(b.buf)
	b.buf = append(b.buf, doc...)
	b.offs = append(b.offs, start)
	if cap(b.buf) != old {
		b.docs = b.docs[:0]
		for i, off := range b.offs[:len(b.offs)-1] {
			b.docs = append(b.docs, bson.Raw(b.buf[off:b.offs[i+1]]))
		}
	}
	b.docs = append(b.docs, bson.Raw(b.buf[start:len(b.buf)]))
}

func insertOptions(bypass bool) *options.InsertManyOptionsBuilder {
	o := options.InsertMany().SetOrdered(false)
	if bypass {
		o.SetBypassDocumentValidation(true)
	}
	return o
}
