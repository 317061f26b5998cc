package pitr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/stream"
)

const prefix = "db/"

// testEntry is an insert entry at ts.
func testEntry(t *testing.T, ts optime.Timestamp, id int) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: ts.T, I: ts.I}}, {Key: "op", Value: "i"},
		{Key: "ns", Value: "app.c"}, {Key: "o", Value: bson.D{{Key: "_id", Value: id}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeChunk stores entries as the chunk (since, until] as the archiver does: the object
// through stream.NewWriter, then its manifest. It returns the chunk as the catalog reads it.
func writeChunk(t testing.TB, s storage.Store, since, until optime.Timestamp, entries []bson.Raw, enc stream.Encoding) catalog.Chunk {
	t.Helper()
	ctx := context.Background()
	var plain, stored bytes.Buffer
	for _, e := range entries {
		plain.Write(e)
	}
	w, err := stream.NewWriter(&stored, enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	key := catalog.ChunkKey(prefix, since, until, enc.Compression, enc.Encryption())
	if _, err := s.Put(ctx, key, bytes.NewReader(stored.Bytes())); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored.Bytes())
	m := &catalog.ChunkManifest{Tool: "mongostash", Since: since, Until: until, Entries: int64(len(entries)),
		RawSize: int64(plain.Len()), CRC32C: catalog.FormatCRC32C(crc32.Checksum(plain.Bytes(), castagnoli)),
		Compression: enc.Compression, Encryption: enc.Encryption(), Recipients: enc.Recipients.Keys(), Size: int64(stored.Len()), SHA256: hex.EncodeToString(sum[:]), WrittenAt: time.Now()}
	if len(entries) > 0 {
		m.First, m.Last = entryTS(t, entries[0]), entryTS(t, entries[len(entries)-1])
	}
	if err := catalog.WriteChunkManifest(ctx, s, prefix, key, m); err != nil {
		t.Fatal(err)
	}
	return findChunk(t, s, key)
}

func findChunk(t testing.TB, s storage.Store, key string) catalog.Chunk {
	t.Helper()
	oc, err := catalog.ReadOplogCatalog(context.Background(), s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range oc.Chunks {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("chunk %s not listed", key)
	return catalog.Chunk{}
}

func entryTS(t testing.TB, e bson.Raw) optime.Timestamp {
	t.Helper()
	ts, i, ok := e.Lookup("ts").TimestampOK()
	if !ok {
		t.Fatalf("entry without ts: %s", e)
	}
	return optime.Timestamp{T: ts, I: i}
}

func ageKeys(t *testing.T) (*stream.Recipients, *stream.Identities) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := stream.ParseRecipients(strings.NewReader(id.Recipient().String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := stream.ParseIdentities(strings.NewReader(id.String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return rs, ids
}

func ts(t, i uint32) optime.Timestamp { return optime.Timestamp{T: t, I: i} }

// tenEntries are entries at 1000,1 … 1000,10 and the chunk range (999,max] → 1000,10.
func tenEntries(t *testing.T) []bson.Raw {
	var es []bson.Raw
	for i := 1; i <= 10; i++ {
		es = append(es, testEntry(t, ts(1000, uint32(i)), i))
	}
	return es
}

func collect(got *[]bson.Raw) func(bson.Raw) error {
	return func(e bson.Raw) error {
		*got = append(*got, append(bson.Raw(nil), e...))
		return nil
	}
}

// TestReadChunkEveryEncoding: whatever the compression, with and without encryption,
// ReadChunk hands out exactly the entries in (after, upTo], byte for byte, and checks the
// whole chunk (every entry counted, every byte read).
func TestReadChunkEveryEncoding(t *testing.T) {
	rs, ids := ageKeys(t)
	for _, c := range []stream.Compression{stream.Zstd, stream.Gzip, stream.None} {
		for _, encrypted := range []bool{false, true} {
			enc := stream.Encoding{Compression: c}
			var readIDs *stream.Identities
			if encrypted {
				enc.Recipients, readIDs = rs, ids
			}
			s := mem.New()
			es := tenEntries(t)
			ch := writeChunk(t, s, ts(999, 0), ts(1000, 10), es, enc)
			var got []bson.Raw
			st, err := ReadChunk(context.Background(), s, readIDs, ch, ts(1000, 3), ts(1000, 7), collect(&got))
			if err != nil {
				t.Fatalf("%s encrypted=%v: %v", c, encrypted, err)
			}
			if len(got) != 4 || st.Applied != 4 || st.Entries != 10 || st.First != ts(1000, 4) || st.Last != ts(1000, 7) {
				t.Fatalf("%s encrypted=%v: got %d entries, stats %+v", c, encrypted, len(got), st)
			}
			for i, e := range got {
				if !bytes.Equal(e, es[i+3]) {
					t.Errorf("%s encrypted=%v: entry %d differs", c, encrypted, i)
				}
			}
			if st.StoredBytes != ch.Manifest.Size || st.RawBytes != ch.Manifest.RawSize {
				t.Errorf("%s encrypted=%v: read %d/%d bytes, manifest %d/%d", c, encrypted, st.StoredBytes, st.RawBytes, ch.Manifest.Size, ch.Manifest.RawSize)
			}
		}
	}
}

// TestReadChunkEmpty: a chunk whose range held no selected entry (the archiver still
// advances its range) reads as no entries, uncompressed too (an empty object).
func TestReadChunkEmpty(t *testing.T) {
	for _, c := range []stream.Compression{stream.Zstd, stream.None} {
		s := mem.New()
		ch := writeChunk(t, s, ts(999, 0), ts(1000, 10), nil, stream.Encoding{Compression: c})
		st, err := ReadChunk(context.Background(), s, nil, ch, ts(999, 0), ts(1000, 10), func(bson.Raw) error {
			t.Fatal("an entry from an empty chunk")
			return nil
		})
		if err != nil || st.Entries != 0 {
			t.Fatalf("%s: %+v %v", c, st, err)
		}
	}
}

// TestReadChunkDamaged: a chunk changed, cut short, lengthened or described by a
// manifest that does not fit it fails with ErrChunkDamaged and says what is wrong.
func TestReadChunkDamaged(t *testing.T) {
	cases := []struct {
		name string
		c    stream.Compression
		edit func(b []byte) []byte
		want string
	}{
		{"byte flipped in a zstd chunk", stream.Zstd, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }, ""},
		{"zstd chunk cut short", stream.Zstd, func(b []byte) []byte { return b[:len(b)-7] }, ""},
		{"zstd chunk with trailing bytes", stream.Zstd, func(b []byte) []byte { return append(b, 0, 0, 0) }, ""},
		{"byte flipped in an entry's value", stream.None, func(b []byte) []byte { b[len(b)-3] ^= 0x01; return b }, "SHA-256"},
		{"uncompressed chunk cut inside an entry", stream.None, func(b []byte) []byte { return b[:len(b)-5] }, "cut short"},
		{"uncompressed chunk missing its last entry", stream.None, func(b []byte) []byte { return b[:len(b)-len(testEntryBytes(t))] }, "9 entries, the manifest records 10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mem.New()
			ch := writeChunk(t, s, ts(999, 0), ts(1000, 10), tenEntries(t), stream.Encoding{Compression: tc.c})
			b, _ := s.Bytes(ch.Key)
			s.SetBytes(ch.Key, tc.edit(bytes.Clone(b)))
			ch.Size = int64(len(tc.edit(bytes.Clone(b)))) // as a listing would see it
			_, err := ReadChunk(context.Background(), s, nil, ch, ts(999, 0), ts(1000, 10), func(bson.Raw) error { return nil })
			if err == nil {
				t.Fatal("a damaged chunk was read without an error")
			}
			if !errors.Is(err, ErrChunkDamaged) || !strings.Contains(err.Error(), ch.Key) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrChunkDamaged naming the chunk and %q", err, tc.want)
			}
		})
	}
}

func testEntryBytes(t *testing.T) bson.Raw { return testEntry(t, ts(1000, 10), 10) }

// TestReadChunkRefusesEntriesOutOfPlace: entries outside the chunk's range or out of
// order are damage, even when the manifest was written to match them.
func TestReadChunkRefusesEntriesOutOfPlace(t *testing.T) {
	for name, es := range map[string][]bson.Raw{
		"out of order": {testEntry(t, ts(1000, 1), 1), testEntry(t, ts(1000, 3), 2), testEntry(t, ts(1000, 2), 3)},
		"duplicate":    {testEntry(t, ts(1000, 1), 1), testEntry(t, ts(1000, 1), 2)},
	} {
		s := mem.New()
		ch := writeChunk(t, s, ts(999, 0), ts(1000, 10), es, stream.Encoding{Compression: stream.Zstd})
		_, err := ReadChunk(context.Background(), s, nil, ch, ts(999, 0), ts(1000, 10), func(bson.Raw) error { return nil })
		if !errors.Is(err, ErrChunkDamaged) || !strings.Contains(err.Error(), "does not come after") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestReadChunkWrongIdentity: an encrypted chunk without the right identity fails before
// any entry is handed out.
func TestReadChunkWrongIdentity(t *testing.T) {
	rs, _ := ageKeys(t)
	_, other := ageKeys(t)
	s := mem.New()
	ch := writeChunk(t, s, ts(999, 0), ts(1000, 10), tenEntries(t), stream.Encoding{Compression: stream.Zstd, Recipients: rs})
	for _, ids := range []*stream.Identities{nil, other} {
		_, err := ReadChunk(context.Background(), s, ids, ch, ts(999, 0), ts(1000, 10), func(bson.Raw) error {
			t.Fatal("an entry without the identity")
			return nil
		})
		if !errors.Is(err, stream.ErrNoIdentity) && !errors.Is(err, stream.ErrWrongIdentity) {
			t.Errorf("identities %v: %v", ids, err)
		}
	}
}

// TestReadPlanFromRealOplog: entries of a real FerretDB v1 oplog, stored as three chunks,
// come back through a catalog plan exactly as the oplog holds them up to the target, and
// the replay engine accepts every one of them.
func TestReadPlanFromRealOplog(t *testing.T) {
	m := testenv.NewMongoWithOplog(t)
	ctx := context.Background()
	coll := m.Client.Database(m.DB).Collection("c")
	for i := range 30 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: i}}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: -i}}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	src, err := oplog.OpenSource(ctx, m.Client)
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.Raw
	if err := src.ReadRange(ctx, optime.Timestamp{}, optime.Max, 1000, collect(&all)); err != nil {
		t.Fatal(err)
	}
	if len(all) < 40 {
		t.Fatalf("the oplog holds %d entries", len(all))
	}
	s := mem.New()
	cut1, cut2 := len(all)/3, 2*len(all)/3
	since := entryTS(t, all[0]).Prev()
	writeChunk(t, s, since, entryTS(t, all[cut1-1]), all[:cut1], stream.Encoding{Compression: stream.Zstd})
	writeChunk(t, s, entryTS(t, all[cut1-1]), entryTS(t, all[cut2-1]), all[cut1:cut2], stream.Encoding{Compression: stream.Gzip})
	writeChunk(t, s, entryTS(t, all[cut2-1]), entryTS(t, all[len(all)-1]), all[cut2:], stream.Encoding{Compression: stream.None})
	oc, err := catalog.ReadOplogCatalog(ctx, s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	base := catalog.BasePoint{Key: "base", ReplayFrom: entryTS(t, all[4]), ConsistentAt: entryTS(t, all[4])}
	target := entryTS(t, all[len(all)-6])
	plan, err := catalog.PlanRestore([]catalog.BasePoint{base}, oc.BuildChains(), target)
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.Raw
	ps, err := ReadPlan(ctx, s, nil, plan, func(e bson.Raw) error {
		if err := oplog.CheckEntry(e); err != nil {
			return err
		}
		got = append(got, append(bson.Raw(nil), e...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := all[5 : len(all)-5]
	if len(got) != len(want) || ps.Applied != int64(len(want)) || len(ps.Chunks) != 3 {
		t.Fatalf("got %d entries from %d chunks, want %d", len(got), len(ps.Chunks), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("entry %d differs:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// BenchmarkReadChunk is the reader's own work per chunk (the object from memory): zstd,
// SHA-256 of the stored bytes, CRC-32C of the plain ones, each entry's length, validation,
// timestamp and range checks. A full chunk of the archiver's default size, 16 MiB of
// ~300-byte insert entries. Reported: plain MB/s (SetBytes) and entries/s.
func BenchmarkReadChunk(b *testing.B) {
	var es []bson.Raw
	size := 0
	for i := 0; size < 16<<20; i++ {
		e, err := bson.Marshal(bson.D{{Key: "ts", Value: bson.Timestamp{T: 1700000000 + uint32(i/1000), I: uint32(i%1000 + 1)}},
			{Key: "op", Value: "i"}, {Key: "ns", Value: "shop.orders"}, {Key: "o", Value: bson.D{{Key: "_id", Value: i},
				{Key: "customer", Value: "customer-" + strings.Repeat("x", i%40)}, {Key: "note", Value: strings.Repeat("an order note ", 14)}}}})
		if err != nil {
			b.Fatal(err)
		}
		es = append(es, e)
		size += len(e)
	}
	s := mem.New()
	first, last := es[0].Lookup("ts"), es[len(es)-1].Lookup("ts")
	ft, fi := first.Timestamp()
	lt, li := last.Timestamp()
	ch := writeChunk(b, s, optime.Timestamp{T: ft, I: fi}.Prev(), optime.Timestamp{T: lt, I: li}, es, stream.Encoding{Compression: stream.Zstd})
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		st, err := ReadChunk(context.Background(), s, nil, ch, ch.Since, ch.Until, func(bson.Raw) error { return nil })
		if err != nil || st.Applied != int64(len(es)) {
			b.Fatal(st, err)
		}
	}
	b.ReportMetric(float64(len(es))*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
