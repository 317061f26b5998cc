package sample

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"
)

// BenchAverageBytes is roughly the mean BSON size of a LoadBench document: 100,000 of
// them make about 200 MB.
const BenchAverageBytes = 2000

// LoadBench fills db with n documents for the benchmarks, shaped like a busy application
// database rather than like the small test sample: documents from ~150 bytes to ~16 KB,
// averaging about BenchAverageBytes, in four collections of different shapes, with
// secondary indexes. Only types every test server stores are used (FerretDB v1 has no
// Decimal128), so the same data set runs on v1, v2 and mongod. Documents are
// deterministic for a given n. The collections are loaded at once, so a fast server is
// kept busy.
func LoadBench(ctx context.Context, client *mongo.Client, db string, n int) (Counts, error) {
	// Shares of the documents: many mid-sized orders, many small events, fewer large
	// profiles, a few binary blobs.
	return loadBench(ctx, client, db, n, []benchShare{
		{"orders", 0.59, benchOrder},
		{"events", 0.27, benchEvent},
		{"profiles", 0.10, benchProfile},
		{"blobs", 0.04, benchBlob},
	})
}

// LoadBenchSkewed is LoadBench with one collection holding most of the bytes, as in many
// real databases: orders are 93 % of the documents and about 86 % of the BSON bytes
// (100,000 documents make about 200 MB).
func LoadBenchSkewed(ctx context.Context, client *mongo.Client, db string, n int) (Counts, error) {
	return loadBench(ctx, client, db, n, []benchShare{
		{"orders", 0.93, benchOrder},
		{"events", 0.04, benchEvent},
		{"profiles", 0.02, benchProfile},
		{"blobs", 0.01, benchBlob},
	})
}

// benchShare is one collection of a benchmark data set: its share of the documents and
// how each is made.
type benchShare struct {
	coll string
	frac float64
	gen  func(i int, rng *rand.Rand) bson.D
}

func loadBench(ctx context.Context, client *mongo.Client, db string, n int, shares []benchShare) (Counts, error) {
	d := client.Database(db)
	counts := Counts{}
	g, gctx := errgroup.WithContext(ctx)
	left := n
	for i, s := range shares {
		c := int(float64(n) * s.frac)
		if i == len(shares)-1 {
			c = left
		}
		left -= c
		counts[s.coll] = int64(c)
		seed := uint64(i)
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(seed, uint64(n)))
			return insert(gctx, d.Collection(s.coll), c, func(i int) bson.D { return s.gen(i, rng) })
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	idx := []struct {
		coll  string
		model mongo.IndexModel
	}{
		{"orders", mongo.IndexModel{Keys: bson.D{{Key: "customer", Value: 1}, {Key: "date", Value: -1}}}},
		{"orders", mongo.IndexModel{Keys: bson.D{{Key: "number", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{"events", mongo.IndexModel{Keys: bson.D{{Key: "at", Value: 1}}}},
		{"profiles", mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)}},
	}
	for _, ix := range idx {
		if _, err := d.Collection(ix.coll).Indexes().CreateOne(ctx, ix.model); err != nil {
			return nil, fmt.Errorf("create index on %s: %w", ix.coll, err)
		}
	}
	return counts, nil
}

var benchWords = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu")

func benchText(rng *rand.Rand, words int) string {
	var b strings.Builder
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(benchWords[rng.IntN(len(benchWords))])
	}
	return b.String()
}

// benchOrder is 300 bytes to 5 KB: line items, an address, a free-text note.
func benchOrder(i int, rng *rand.Rand) bson.D {
	items := bson.A{}
	for j := range 1 + rng.IntN(16) {
		items = append(items, bson.D{
			{Key: "sku", Value: fmt.Sprintf("P-%05d", rng.IntN(50000))},
			{Key: "name", Value: benchText(rng, 3)},
			{Key: "qty", Value: int32(1 + j%5)},
			{Key: "price", Value: float64(rng.IntN(100000)) / 100},
			{Key: "discount", Value: rng.IntN(4) == 0},
		})
	}
	return bson.D{
		{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(1_700_000_000+int64(i), 0))},
		{Key: "number", Value: int64(i)},
		{Key: "customer", Value: int32(rng.IntN(20000))},
		{Key: "date", Value: bson.DateTime(1_700_000_000_000 + int64(i)*60_000)},
		{Key: "status", Value: []string{"new", "paid", "shipped", "returned"}[i%4]},
		{Key: "shipTo", Value: bson.D{
			{Key: "name", Value: benchText(rng, 2)},
			{Key: "street", Value: fmt.Sprintf("%d %s street", 1+rng.IntN(999), benchText(rng, 1))},
			{Key: "city", Value: benchText(rng, 1)},
			{Key: "zip", Value: fmt.Sprintf("%05d", rng.IntN(99999))},
			{Key: "geo", Value: bson.A{float64(rng.IntN(36000))/100 - 180, float64(rng.IntN(18000))/100 - 90}},
		}},
		{Key: "items", Value: items},
		{Key: "total", Value: float64(rng.IntN(10_000_000)) / 100},
		{Key: "note", Value: benchText(rng, rng.IntN(300))},
	}
}

// benchEvent is 100 to 400 bytes: a typical append-only log line.
func benchEvent(i int, rng *rand.Rand) bson.D {
	d := bson.D{
		{Key: "_id", Value: int64(i)},
		{Key: "at", Value: bson.DateTime(1_700_000_000_000 + int64(i)*250)},
		{Key: "kind", Value: []string{"login", "logout", "view", "buy", "error"}[rng.IntN(5)]},
		{Key: "user", Value: int32(rng.IntN(20000))},
		{Key: "ok", Value: rng.IntN(10) != 0},
		{Key: "latencyMs", Value: rng.Float64() * 500},
		{Key: "ts", Value: bson.Timestamp{T: uint32(1_700_000_000 + i/4), I: uint32(i % 4)}},
	}
	if rng.IntN(2) == 0 {
		d = append(d, bson.E{Key: "detail", Value: bson.D{{Key: "path", Value: "/" + strings.ReplaceAll(benchText(rng, 3), " ", "/")}, {Key: "code", Value: int32(200 + rng.IntN(300))}}})
	}
	if rng.IntN(2) == 0 {
		d = append(d, bson.E{Key: "message", Value: benchText(rng, 10+rng.IntN(30))})
	}
	return d
}

// benchProfile is 2 to 8 KB: nested preferences, a history array, a small binary.
func benchProfile(i int, rng *rand.Rand) bson.D {
	history := bson.A{}
	for j := range 5 + rng.IntN(40) {
		history = append(history, bson.D{
			{Key: "at", Value: bson.DateTime(1_650_000_000_000 + int64(j)*3_600_000)},
			{Key: "action", Value: benchText(rng, 2)},
			{Key: "value", Value: int64(rng.IntN(1 << 30))},
		})
	}
	avatar := make([]byte, 256+rng.IntN(1024))
	for k := range avatar {
		avatar[k] = byte(rng.Uint32())
	}
	return bson.D{
		{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(1_600_000_000+int64(i), 0))},
		{Key: "email", Value: fmt.Sprintf("user%d@example.com", i)},
		{Key: "name", Value: fmt.Sprintf("User Nümber %d ✓", i)},
		{Key: "created", Value: bson.DateTime(1_600_000_000_000 + int64(i)*86_400_000)},
		{Key: "prefs", Value: bson.D{
			{Key: "lang", Value: []string{"en", "fr", "ja", "es"}[i%4]},
			{Key: "notify", Value: bson.D{{Key: "email", Value: i%2 == 0}, {Key: "sms", Value: i%3 == 0}}},
			{Key: "tags", Value: bson.A{benchText(rng, 1), benchText(rng, 1), int32(i % 7)}},
		}},
		{Key: "pattern", Value: bson.Regex{Pattern: fmt.Sprintf("^user%d", i), Options: "i"}},
		{Key: "avatar", Value: bson.Binary{Subtype: 0, Data: avatar}},
		{Key: "history", Value: history},
		{Key: "bio", Value: benchText(rng, rng.IntN(150))},
		{Key: "note", Value: nil},
	}
}

// benchBlob is 4 to 16 KB, mostly one binary field (attachments, thumbnails).
func benchBlob(i int, rng *rand.Rand) bson.D {
	data := make([]byte, 4096+rng.IntN(12288))
	for k := range data {
		// Half random, half repeated: compresses like real attachments, not like zeros.
		if k%2 == 0 {
			data[k] = byte(rng.Uint32())
		} else {
			data[k] = byte(k)
		}
	}
	return bson.D{
		{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(1_650_000_000+int64(i), 0))},
		{Key: "name", Value: fmt.Sprintf("file-%06d.bin", i)},
		{Key: "type", Value: []string{"image/png", "application/pdf", "text/plain"}[i%3]},
		{Key: "data", Value: bson.Binary{Subtype: 0, Data: data}},
	}
}
