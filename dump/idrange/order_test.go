package idrange

import (
	"cmp"
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// val is v as a raw BSON value, as a server sends it.
func val(t testing.TB, v any) bson.RawValue {
	t.Helper()
	raw, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return bson.Raw(raw).Lookup("v")
}

func dec(t testing.TB, s string) bson.Decimal128 {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCompareFollowsBSONOrder: a list of values in MongoDB's sort order (groups of equal
// values in one row) compares as its positions do, every pair both ways.
func TestCompareFollowsBSONOrder(t *testing.T) {
	oid1, _ := bson.ObjectIDFromHex("000000000000000000000001")
	oid2, _ := bson.ObjectIDFromHex("ff0000000000000000000000")
	groups := [][]any{
		{bson.MinKey{}},
		{bson.Undefined{}},
		{nil},
		{math.NaN(), dec(t, "NaN")},
		{math.Inf(-1), dec(t, "-Infinity")},
		{int64(math.MinInt64)},
		{-1.5, dec(t, "-1.5")},
		{int32(-1), int64(-1), -1.0, dec(t, "-1.0")},
		{0.0, math.Copysign(0, -1), int32(0), dec(t, "0"), dec(t, "-0E+3")},
		{dec(t, "0.1")},
		{0.1}, // the double nearest 0.1 is above it
		{int32(1), int64(1), 1.0, dec(t, "1"), dec(t, "1.000")},
		{int64(1) << 53, float64(1 << 53)},
		{int64(1)<<53 + 1}, // between two doubles
		{float64(1<<53) + 2},
		{int64(math.MaxInt64)},
		{float64(1 << 63), dec(t, "9223372036854775808")},
		{dec(t, "1E+6000")},
		{math.Inf(1), dec(t, "Infinity")},
		{"", bson.Symbol("")},
		{"a", bson.Symbol("a")},
		{"ab"},
		{"b"},
		{"z"},
		{"é"}, // UTF-8 bytes: 0xC3 0xA9 is above "z"
		{bson.D{}},
		{bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: 1.0}}},
		{bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: int32(1)}}},
		{bson.D{{Key: "b", Value: int32(1)}}},
		{bson.D{{Key: "a", Value: "x"}}}, // a string element above any number, whatever its name
		{bson.D{{Key: "a", Value: bson.D{{Key: "z", Value: nil}}}}},
		{bson.Binary{Subtype: 5, Data: []byte{1}}},
		{bson.Binary{Subtype: 0, Data: []byte{9, 9}}},
		{bson.Binary{Subtype: 4, Data: []byte{0, 0}}},
		{bson.Binary{Subtype: 0, Data: []byte{1, 1, 1}}},
		{oid1},
		{oid2},
		{false},
		{true},
		{bson.DateTime(-1000)},
		{bson.DateTime(0)},
		{bson.DateTime(5)},
		{bson.Timestamp{T: 1, I: 9}},
		{bson.Timestamp{T: 2, I: 0}},
		{bson.Timestamp{T: 1 << 31, I: 0}}, // unsigned
		{bson.Regex{Pattern: "a", Options: ""}},
		{bson.Regex{Pattern: "a", Options: "i"}},
		{bson.DBPointer{DB: "a", Pointer: oid1}},
		{bson.JavaScript("f()")},
		{bson.CodeWithScope{Code: "f()", Scope: bson.D{}}},
		{bson.MaxKey{}},
	}
	type entry struct {
		v     bson.RawValue
		group int
	}
	var all []entry
	for g, vs := range groups {
		for _, v := range vs {
			all = append(all, entry{val(t, v), g})
		}
	}
	for _, a := range all {
		for _, b := range all {
			want := cmp.Compare(a.group, b.group)
			if got := Compare(a.v, b.v); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a.v, b.v, got, want)
			}
		}
	}
}

// TestBracketsGroupNumbersAndStrings: the four number types share a bracket, strings and
// symbols another; dates and timestamps are apart.
func TestBracketsGroupNumbersAndStrings(t *testing.T) {
	for _, c := range []struct {
		v    any
		want Bracket
	}{
		{int32(1), Number}, {int64(1), Number}, {1.5, Number}, {dec(t, "2"), Number},
		{"s", String}, {bson.Symbol("s"), String},
		{bson.DateTime(1), Date}, {bson.Timestamp{T: 1}, Timestamp},
		{bson.MinKey{}, MinKey}, {bson.MaxKey{}, MaxKey}, {nil, Null},
	} {
		if got := BracketOf(val(t, c.v).Type); got != c.want {
			t.Errorf("bracket of %v: %s, want %s", c.v, got, c.want)
		}
	}
}
