package pitr

import (
	"bytes"
	"hash/crc32"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/stream"
)

// chunk is the chunk being filled: the entries read since the last complete one, encoded
// (compressed, and encrypted with recipients) as they come, so that what waits in memory
// is the stored form, at most about one chunk's plain bytes. Once sealed its bytes do not
// change, so a failed upload is retried with exactly the same object.
type chunk struct {
	since, until optime.Timestamp // the range read so far: since < ts <= until
	first, last  optime.Timestamp // selected entries, zero while there is none
	entries      int64
	ops          map[string]int64
	raw          int64
	crc          uint32
	opened       time.Time // when the first entry was read: the interval counts from here
	chainStart   string    // why a chain starts here; empty when it continues one
	previous     string    // key of the chunk this one follows, if known

	buf    bytes.Buffer
	w      io.WriteCloser
	sealed bool
}

func newChunk(since optime.Timestamp, enc stream.Encoding) (*chunk, error) {
	c := &chunk{since: since, until: since, ops: map[string]int64{}}
	w, err := stream.NewWriter(&c.buf, enc)
	if err != nil {
		return nil, err
	}
	c.w = w
	return c, nil
}

// advance moves the end of the range to ts, an entry read but not selected.
func (c *chunk) advance(ts optime.Timestamp) {
	c.touch()
	c.until = ts
}

// touch starts the interval at the first entry read.
func (c *chunk) touch() {
	if c.empty() {
		c.opened = time.Now()
	}
}

// due reports whether the chunk's interval is over.
func (c *chunk) due(now time.Time, interval time.Duration) bool {
	return !c.empty() && now.Sub(c.opened) >= interval
}

// add appends a selected entry (whose timestamp is ts) and advances the range to it.
func (c *chunk) add(raw bson.Raw, ts optime.Timestamp, op string) error {
	if _, err := c.w.Write(raw); err != nil {
		return err
	}
	c.touch()
	if c.entries == 0 {
		c.first = ts
	}
	c.last, c.until = ts, ts
	c.entries++
	c.ops[op]++
	c.raw += int64(len(raw))
	c.crc = crc32.Update(c.crc, castagnoli, raw)
	return nil
}

// empty reports a range with nothing read: there is no chunk to write.
func (c *chunk) empty() bool { return c.until == c.since }

// seal finishes the encoding; the chunk takes no more entries.
func (c *chunk) seal() error {
	if c.sealed {
		return nil
	}
	c.sealed = true
	return c.w.Close()
}

// manifest is the chunk's manifest, but for what only the store knows (size, SHA-256).
func (c *chunk) manifest(o *Options, epoch uint64) catalog.ChunkManifest {
	return catalog.ChunkManifest{
		Tool:        "mongostash",
		ToolVersion: o.ToolVersion,
		Since:       c.since,
		Until:       c.until,
		First:       c.first,
		Last:        c.last,
		Previous:    c.previous,
		ChainStart:  c.chainStart,
		Entries:     c.entries,
		Ops:         c.ops,
		RawSize:     c.raw,
		CRC32C:      catalog.FormatCRC32C(c.crc),
		Compression: o.Encoding.Compression,
		Encryption:  o.Encoding.Encryption(),
		Recipients:  o.Encoding.Recipients.Keys(),
		Scope:       o.Scope,
		LeaseEpoch:  epoch,
	}
}

func entryOp(raw bson.Raw) string {
	op, _ := raw.Lookup("op").StringValueOK()
	return op
}
