package dump

import (
	"encoding/binary"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// maxCommandBytes bounds an insert command. The server takes commands of up to 16 MiB +
// 16 KiB (a maximum-size document plus the command around it), so a batch is closed before
// it would pass 16 MiB of documents, and one document of up to 16 MiB always fits alone.
const maxCommandBytes = 16 << 20

// defaultBatchBytes is the default size of an insert command. Larger batches gain nothing
// on the server, and smaller ones let more inserts share the memory budget; a larger
// document still goes, alone.
const defaultBatchBytes = 2 << 20

// batch is one insert command under construction,
//
//	{insert: <coll>, ordered: false[, bypassDocumentValidation: true][, writeConcern: …], documents: [<doc>, …]}
//
// as raw BSON. Each document is copied once, from the archive reader's buffer (which it
// reuses) straight into the command: the driver then sends the command as it is, where its
// InsertMany would re-encode every document and decode its _id, allocating for each.
type batch struct {
	cmd      []byte // the command; complete only after seal
	arr      int    // offset of the documents array's length prefix in cmd
	offs     []int  // offset of each document in cmd
	docBytes int64  // bytes of documents, for the progress counters
	weight   int64  // share of the restore's memory budget it holds
}

// insertHeader is the start of every insert command into coll, up to the documents
// array's (still unknown) length: built once per namespace.
func insertHeader(coll string, bypass bool, wc *writeconcern.WriteConcern) []byte {
	h := []byte{0, 0, 0, 0} // the command's length, set by seal
	h = bsonString(h, "insert", coll)
	h = append(h, byte(bson.TypeBoolean))
	h = append(append(h, "ordered"...), 0, 0)
	if bypass {
		h = append(h, byte(bson.TypeBoolean))
		h = append(append(h, "bypassDocumentValidation"...), 0, 1)
	}
	if wc != nil && (wc.W != nil || wc.Journal != nil) {
		d := bson.D{}
		if wc.W != nil {
			d = append(d, bson.E{Key: "w", Value: wc.W})
		}
		if wc.Journal != nil {
			d = append(d, bson.E{Key: "j", Value: *wc.Journal})
		}
		if raw, err := bson.Marshal(d); err == nil { // W is a string or an int: it marshals
			h = append(h, byte(bson.TypeEmbeddedDocument))
			h = append(append(append(h, "writeConcern"...), 0), raw...)
		}
	}
	h = append(h, byte(bson.TypeArray))
	h = append(append(h, "documents"...), 0)
	return append(h, 0, 0, 0, 0) // the array's length, set by seal
}

func bsonString(dst []byte, key, value string) []byte {
	dst = append(dst, byte(bson.TypeString))
	dst = append(append(dst, key...), 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)+1))
	return append(append(dst, value...), 0)
}

// newBatch starts an empty command from header in a buffer of capacity size, which it
// never outgrows (fits says when it would): the buffer's size is what the batch holds of
// the restore's memory budget.
func newBatch(header []byte, size int) *batch {
	b := &batch{cmd: make([]byte, 0, max(size, len(header)+batchTrailer))}
	b.cmd = append(b.cmd, header...)
	b.arr = len(header) - 4
	return b
}

// batchTrailer is the most a document adds to a batch besides its own bytes (element type,
// an index key of up to 7 digits and its NUL), plus the two closing NULs.
const batchTrailer = 1 + 8 + 2

// len is the number of documents.
func (b *batch) len() int { return len(b.offs) }

// fits says whether doc can join without outgrowing the buffer.
func (b *batch) fits(doc []byte) bool {
	return len(b.cmd)+len(doc)+batchTrailer <= cap(b.cmd)
}

// add copies doc into the command as the next array element.
func (b *batch) add(doc []byte) {
	b.cmd = append(b.cmd, byte(bson.TypeEmbeddedDocument))
	b.cmd = strconv.AppendInt(b.cmd, int64(len(b.offs)), 10)
	b.cmd = append(b.cmd, 0)
	b.offs = append(b.offs, len(b.cmd))
	b.cmd = append(b.cmd, doc...)
	b.docBytes += int64(len(doc))
}

// seal closes the array and the command and sets their lengths.
func (b *batch) seal() {
	b.cmd = append(b.cmd, 0)
	binary.LittleEndian.PutUint32(b.cmd[b.arr:], uint32(len(b.cmd)-b.arr))
	b.cmd = append(b.cmd, 0)
	binary.LittleEndian.PutUint32(b.cmd, uint32(len(b.cmd)))
}

// doc returns the i-th document.
func (b *batch) doc(i int) bson.Raw {
	off := b.offs[i]
	return bson.Raw(b.cmd[off : off+int(binary.LittleEndian.Uint32(b.cmd[off:]))])
}
