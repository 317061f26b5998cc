package catalog

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/stream"
)

func TestChunkKey(t *testing.T) {
	since, until := optime.Timestamp{T: 1795632534, I: 3}, optime.Timestamp{T: 1795633134, I: 12}
	for _, tc := range []struct {
		prefix string
		c      stream.Compression
		e      stream.Encryption
		want   string
	}{
		{"", stream.Zstd, stream.Unencrypted, "oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson.zst"},
		{"prod/", stream.Gzip, stream.Unencrypted, "prod/oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson.gz"},
		{"db1-", stream.None, stream.Unencrypted, "db1-oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson"},
		{"", stream.Zstd, stream.Age, "oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson.zst.age"},
		{"x/", stream.None, stream.Age, "x/oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson.age"},
	} {
		got := ChunkKey(tc.prefix, since, until, tc.c, tc.e)
		if got != tc.want {
			t.Errorf("ChunkKey(%q, %s, %s) = %q, want %q", tc.prefix, tc.c, tc.e, got, tc.want)
		}
		name, ok := ParseChunkKey(tc.prefix, got)
		if !ok || name != (ChunkName{Key: got, Since: since, Until: until, Compression: tc.c, Encryption: tc.e}) {
			t.Errorf("ParseChunkKey(%q) = %+v, %v", got, name, ok)
		}
	}
	max := optime.Timestamp{T: 1<<32 - 1, I: 1<<32 - 1}
	if k := ChunkKey("", optime.Timestamp{}, max, stream.Zstd, stream.Unencrypted); !strings.Contains(k, "19700101T000000Z.0000000000-21060207T062815Z.4294967295") {
		t.Errorf("extremes: %s", k)
	} else if n, ok := ParseChunkKey("", k); !ok || n.Since != (optime.Timestamp{}) || n.Until != max {
		t.Errorf("extremes do not parse back: %+v %v", n, ok)
	}
}

func TestParseChunkKeyRefuses(t *testing.T) {
	good := "oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson.zst"
	for _, key := range []string{
		good + ".manifest.json",
		strings.Replace(good, ".bson.zst", ".bson.lz4", 1),
		strings.Replace(good, ".bson.zst", ".zst", 1),
		strings.Replace(good, "oplog/", "oplog/x/", 1),
		strings.Replace(good, "oplog/", "", 1),
		strings.Replace(good, "0000000003", "3", 1),                      // ordinal not padded
		strings.Replace(good, "0000000003", "4294967296", 1),             // ordinal beyond 32 bits
		strings.Replace(good, "20261125T184854Z", "20261131T184854Z", 1), // no such day
		strings.Replace(good, "20261125T184854Z", "2026-11-25T18:48:54Z", 1),
		"oplog/20261125T185854Z.0000000012-20261125T184854Z.0000000003.bson.zst", // empty range
		"oplog/20261125T184854Z.0000000003-20261125T184854Z.0000000003.bson.zst", // empty range
		strings.Replace(good, "-", "_", 1),
		"oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.gap.json",
	} {
		if n, ok := ParseChunkKey("", key); ok {
			t.Errorf("ParseChunkKey(%q) = %+v, want not a chunk", key, n)
		}
	}
	if _, ok := ParseChunkKey("prod/", good); ok {
		t.Error("a key outside the prefix parsed")
	}
}

func TestGapKey(t *testing.T) {
	a, r := optime.Timestamp{T: 1795632534, I: 3}, optime.Timestamp{T: 1795635999, I: 0}
	k := GapKey("p/", a, r)
	if k != "p/oplog/20261125T184854Z.0000000003-20261125T194639Z.0000000000.gap.json" {
		t.Errorf("GapKey = %q", k)
	}
	if ga, gr, ok := ParseGapKey("p/", k); !ok || ga != a || gr != r {
		t.Errorf("ParseGapKey(%q) = %v %v %v", k, ga, gr, ok)
	}
	if _, ok := ParseChunkKey("p/", k); ok {
		t.Error("a gap marker parses as a chunk")
	}
	if _, _, ok := ParseGapKey("p/", ChunkKey("p/", a, r, stream.None, stream.Unencrypted)); ok {
		t.Error("a chunk parses as a gap marker")
	}
}

// TestChunkKeysSortByRange: sorting keys as strings (what every store's List does) gives
// the range order, so the newest chunk is the last key.
func TestChunkKeysSortByRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type rng struct{ since, until optime.Timestamp }
	var ranges []rng
	var keys []string
	for range 2000 {
		a := optime.Timestamp{T: r.Uint32N(4) + 1795632534 + r.Uint32N(3)*r.Uint32(), I: r.Uint32N(3) * r.Uint32()}
		b := optime.Timestamp{T: a.T + r.Uint32N(3), I: r.Uint32()}
		if !a.Before(b) {
			continue
		}
		ranges = append(ranges, rng{a, b})
		keys = append(keys, ChunkKey("", a, b, stream.Compression([]stream.Compression{stream.Zstd, stream.Gzip, stream.None}[r.IntN(3)]), stream.Unencrypted))
	}
	byKey := slices.Clone(keys)
	slices.Sort(byKey)
	byRange := slices.Clone(ranges)
	slices.SortFunc(byRange, func(x, y rng) int { return compareRange(x.since, x.until, y.since, y.until) })
	for i, k := range byKey {
		n, ok := ParseChunkKey("", k)
		if !ok || n.Since != byRange[i].since || n.Until != byRange[i].until {
			t.Fatalf("key #%d %s does not hold range #%d %v", i, k, i, byRange[i])
		}
	}
}

func FuzzParseChunkKey(f *testing.F) {
	f.Add("oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson.zst")
	f.Add("oplog/19700101T000000Z.0000000000-21060207T062815Z.4294967295.bson")
	f.Add("oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.gap.json")
	f.Fuzz(func(t *testing.T, key string) {
		n, ok := ParseChunkKey("", key)
		if !ok {
			return
		}
		if again := ChunkKey("", n.Since, n.Until, n.Compression, stream.Unencrypted); again != key {
			t.Fatalf("ParseChunkKey(%q) = %+v, which ChunkKey writes as %q", key, n, again)
		}
		if !n.Since.Before(n.Until) {
			t.Fatalf("empty range accepted: %q", key)
		}
	})
}
