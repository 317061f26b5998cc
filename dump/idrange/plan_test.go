package idrange

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// matches evaluates a filter of this package on an _id value the way MongoDB's matcher
// does (and FerretDB v2's, checked against the server in dump's split tests): $gte and $lt
// match only values of their operand's bracket, and never a NaN; $type matches by type
// name; equality to NaN matches a NaN of either type. A fake of the server, for the pure
// logic only.
func matches(t *testing.T, filter bson.D, id bson.RawValue) bool {
	t.Helper()
	if len(filter) != 1 || filter[0].Key != "_id" {
		t.Fatalf("unexpected filter %v", filter)
	}
	switch cond := filter[0].Value.(type) {
	case bson.RawValue: // {_id: NaN}
		return isNaN(cond) && isNaN(id)
	case bson.D:
		for _, op := range cond {
			switch op.Key {
			case "$gte", "$lt":
				bound := op.Value.(bson.RawValue)
				if BracketOf(bound.Type) != BracketOf(id.Type) || isNaN(id) {
					return false
				}
				c := Compare(id, bound)
				if (op.Key == "$gte" && c < 0) || (op.Key == "$lt" && c >= 0) {
					return false
				}
			case "$type":
				if !slices.Contains(op.Value.(bson.A), any(typeName(id.Type))) {
					return false
				}
			default:
				t.Fatalf("unexpected operator %s", op.Key)
			}
		}
		return true
	}
	t.Fatalf("unexpected condition %T", filter[0].Value)
	return false
}

// typeName is the $type name a value matches: "number" for every number type (the only
// way the plan names them).
func typeName(t bson.Type) string {
	if BracketOf(t) == Number {
		return "number"
	}
	names := map[bson.Type]string{
		bson.TypeMinKey: "minKey", bson.TypeUndefined: "undefined", bson.TypeNull: "null",
		bson.TypeString: "string", bson.TypeSymbol: "symbol", bson.TypeEmbeddedDocument: "object",
		bson.TypeBinary: "binData", bson.TypeObjectID: "objectId", bson.TypeBoolean: "bool",
		bson.TypeDateTime: "date", bson.TypeTimestamp: "timestamp", bson.TypeDBPointer: "dbPointer",
		bson.TypeJavaScript: "javascript", bson.TypeCodeWithScope: "javascriptWithScope", bson.TypeMaxKey: "maxKey",
	}
	return names[t]
}

// readers are the queries a plan's reads make: each range, the rest, NaN.
func readers(p Plan) []bson.D {
	var out []bson.D
	for _, r := range p.Ranges {
		out = append(out, r.Filter())
	}
	out = append(out, p.RestFilter(false))
	if f := p.NaNFilter(); f != nil {
		out = append(out, f)
	}
	return out
}

// assertEachReadOnce fails unless every id is selected by exactly one of the plan's queries.
func assertEachReadOnce(t *testing.T, p Plan, ids []bson.RawValue) {
	t.Helper()
	qs := readers(p)
	for _, id := range ids {
		var by []int
		for i, q := range qs {
			if matches(t, q, id) {
				by = append(by, i)
			}
		}
		if len(by) != 1 {
			t.Errorf("_id %s is read by the queries %v of %v, want exactly one", id, by, qs)
		}
	}
}

// mixedIDs is one value of every kind an _id can be, NaN and the single-value brackets
// included, and a spread of each common type.
func mixedIDs(t *testing.T, rng *rand.Rand, n int) []bson.RawValue {
	fixed := []any{bson.MinKey{}, bson.MaxKey{}, nil, bson.Undefined{}, math.NaN(), math.Inf(-1), math.Inf(1),
		dec(t, "NaN"), dec(t, "12.5"), bson.Symbol("sym"), bson.JavaScript("f()"),
		bson.CodeWithScope{Code: "g()", Scope: bson.D{}}, bson.DBPointer{DB: "d", Pointer: bson.NewObjectID()},
		true, false, bson.D{}, bson.D{{Key: "a", Value: "x"}}}
	var out []bson.RawValue
	for _, v := range fixed {
		out = append(out, val(t, v))
	}
	for i := range n {
		var v any
		switch rng.IntN(9) {
		case 0:
			v = int32(rng.IntN(1000) - 500)
		case 1:
			v = int64(rng.IntN(1 << 40))
		case 2:
			v = rng.Float64()*1000 - 500
		case 3:
			v = fmt.Sprintf("s%04d", rng.IntN(10000))
		case 4:
			v = bson.NewObjectIDFromTimestamp(time.Unix(1_600_000_000+int64(rng.IntN(1e8)), 0))
		case 5:
			v = bson.D{{Key: "k", Value: int32(rng.IntN(100))}, {Key: "n", Value: i}}
		case 6:
			v = bson.DateTime(rng.Int64N(1<<42) - 1<<41)
		case 7:
			v = bson.Timestamp{T: rng.Uint32(), I: uint32(i)}
		default:
			b := make([]byte, 1+rng.IntN(4))
			for k := range b {
				b[k] = byte(rng.Uint32())
			}
			v = bson.Binary{Subtype: byte(rng.IntN(6)), Data: b}
		}
		out = append(out, val(t, v))
	}
	return out
}

func sortedCopy(vs []bson.RawValue) []bson.RawValue {
	out := slices.Clone(vs)
	slices.SortStableFunc(out, Compare)
	return out
}

// TestPlanReadsEveryIDOnceAcrossTypes: boundaries chosen from a sample of mixed _id values
// (the way a dump chooses them, sorted by the server) divide the values so that each
// falls in exactly one range, the rest or the NaN query — whatever the number of parts,
// and for values the sample never saw.
func TestPlanReadsEveryIDOnceAcrossTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := mixedIDs(t, rng, 3000)
	for _, parts := range []int{2, 3, 4, 8, 16, 64} {
		for round := range 5 {
			sample := make([]bson.RawValue, 0, 100)
			for range 100 {
				sample = append(sample, ids[rng.IntN(len(ids))])
			}
			p := NewPlan(Choose(sortedCopy(sample), parts))
			if len(p.Ranges) == 0 {
				t.Fatalf("parts %d round %d: no range from %d samples", parts, round, len(sample))
			}
			assertEachReadOnce(t, p, ids)
		}
	}
}

// TestPlanOfOneType: ObjectId boundaries make ranges of ObjectIds only, open below the
// first and above the last; every other bracket is the rest's, numbers included, so there
// is no NaN query.
func TestPlanOfOneType(t *testing.T) {
	a, b := val(t, bson.NewObjectIDFromTimestamp(time.Unix(1_500_000_000, 0))), val(t, bson.NewObjectID())
	p := NewPlan([]bson.RawValue{a, b})
	want := []string{
		"[start of objectId, " + a.String() + ")",
		"[" + a.String() + ", " + b.String() + ")",
		"[" + b.String() + ", end of objectId)",
	}
	var got []string
	for _, r := range p.Ranges {
		got = append(got, r.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ranges %q, want %q", got, want)
	}
	if slices.Contains(p.Rest, ObjectID) || !slices.Contains(p.Rest, Number) || !slices.Contains(p.Rest, MinKey) {
		t.Errorf("rest %v", p.Rest)
	}
	if p.NaNFilter() != nil {
		t.Errorf("a NaN query without a range of numbers: %v", p.NaNFilter())
	}
	first := p.Ranges[0].Filter()
	if fmt.Sprint(first) != fmt.Sprint(bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: a}}}}) {
		t.Errorf("first range's filter %v", first)
	}
}

// TestPlanDropsWhatCannotBound: duplicates (of any number type), NaN, null, MinKey, MaxKey
// and symbols are no boundaries, and a boundary below the one before it (an order the
// server and this package would disagree on) is dropped rather than trusted.
func TestPlanDropsWhatCannotBound(t *testing.T) {
	in := []any{bson.MinKey{}, nil, math.NaN(), int32(5), int64(5), 5.0, dec(t, "5.00"), int32(3), "m", bson.Symbol("n"), "m", bson.MaxKey{}}
	var vs []bson.RawValue
	for _, v := range in {
		vs = append(vs, val(t, v))
	}
	kept := Increasing(vs)
	if len(kept) != 2 || kept[0].Type != bson.TypeInt32 || kept[1].StringValue() != "m" {
		t.Fatalf("kept %v, want [5 \"m\"]", kept)
	}
	p := NewPlan(vs)
	if len(p.Ranges) != 4 || p.NaNFilter() == nil {
		t.Fatalf("plan %+v", p)
	}
	assertEachReadOnce(t, p, mixedIDs(t, rand.New(rand.NewPCG(3, 4)), 500))
}

// TestPlanWithoutBoundaries: no sample (an empty collection), or one that holds only
// values that bound nothing, plans no range: the rest is every bracket, one read of all.
func TestPlanWithoutBoundaries(t *testing.T) {
	for _, in := range [][]bson.RawValue{nil, {val(t, nil)}, {val(t, bson.MaxKey{}), val(t, math.NaN())}} {
		p := NewPlan(in)
		if len(p.Ranges) != 0 || p.NaNFilter() != nil {
			t.Fatalf("plan of %v: %+v", in, p)
		}
		assertEachReadOnce(t, p, mixedIDs(t, rand.New(rand.NewPCG(5, 6)), 200))
	}
}

// TestPlanOfOneDocument: a collection of one document samples one value; its two ranges
// hold it once (the upper one), and an empty collection beside it nothing.
func TestPlanOfOneDocument(t *testing.T) {
	id := val(t, bson.NewObjectID())
	p := NewPlan(Choose([]bson.RawValue{id}, 4))
	if len(p.Ranges) != 2 {
		t.Fatalf("ranges %v", p.Ranges)
	}
	if matches(t, p.Ranges[0].Filter(), id) || !matches(t, p.Ranges[1].Filter(), id) {
		t.Errorf("the document is not in the upper range only")
	}
	assertEachReadOnce(t, p, []bson.RawValue{id})
}

// TestPlanAllInOneRange: boundaries that all lie above the data (a sample taken before the
// collection shrank) leave every document in the first range, read once.
func TestPlanAllInOneRange(t *testing.T) {
	var ids []bson.RawValue
	for i := range 50 {
		ids = append(ids, val(t, int32(i)))
	}
	p := NewPlan([]bson.RawValue{val(t, int32(1000)), val(t, int32(2000))})
	for _, id := range ids {
		if !matches(t, p.Ranges[0].Filter(), id) {
			t.Fatalf("%s not in the first range", id)
		}
	}
	assertEachReadOnce(t, p, ids)
}

// TestChooseSpreadsEvenly: from 100 sorted distinct values, 4 parts take the 25th, 50th
// and 75th; duplicates in the sample count once.
func TestChooseSpreadsEvenly(t *testing.T) {
	var vs []bson.RawValue
	for i := range 100 {
		vs = append(vs, val(t, int64(i)), val(t, int32(i))) // each value twice, as $sample may return it
	}
	got := Choose(vs, 4)
	var ns []int64
	for _, v := range got {
		ns = append(ns, v.AsInt64())
	}
	if !slices.Equal(ns, []int64{25, 50, 75}) {
		t.Fatalf("chose %v", ns)
	}
	if c := Choose(vs[:4], 8); len(c) != 2 {
		t.Errorf("from 2 distinct values for 8 parts: %v", c)
	}
	if Choose(vs, 1) != nil {
		t.Error("one part needs no boundary")
	}
}

// TestRestFilterNamesCommonTypes: the rest names every type of its brackets, or with
// commonOnly only those every server knows.
func TestRestFilterNamesCommonTypes(t *testing.T) {
	p := NewPlan([]bson.RawValue{val(t, bson.NewObjectID())})
	all := fmt.Sprint(p.RestFilter(false))
	common := fmt.Sprint(p.RestFilter(true))
	for _, n := range []string{"minKey", "maxKey", "symbol", "undefined", "javascript", "dbPointer"} {
		if !strings.Contains(all, n) || strings.Contains(common, n) {
			t.Errorf("%s: all %s, common %s", n, all, common)
		}
	}
	if strings.Contains(all, "objectId") || !strings.Contains(common, "number") {
		t.Errorf("all %s, common %s", all, common)
	}
}
