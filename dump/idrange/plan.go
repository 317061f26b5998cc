package idrange

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Range is one range of a plan: the values of one bracket from Lo (included) to Hi
// (excluded). A nil Lo is the start of the bracket, a nil Hi its end.
type Range struct {
	Bracket Bracket
	Lo, Hi  *bson.RawValue
}

// Plan divides every value an _id can have into ranges, each value in exactly one: the
// brackets that hold boundaries into ranges between them, and every other bracket into
// the rest, read by a query of its own (RestFilter, with NaNFilter when the numbers are
// divided). With boundaries b₁ < b₂ in one bracket B, the ranges are B's values below b₁,
// from b₁ to b₂, and from b₂ to the end of B.
type Plan struct {
	Ranges []Range
	Rest   []Bracket // in BSON order
}

// NewPlan makes the plan of boundaries given in the server's order. It keeps only
// boundaries that can bound a range (Usable) and that Compare sees strictly above the
// one kept before: a duplicate, or a pair the two orders would disagree on, is dropped —
// a dropped boundary only makes a range larger. With no boundary left the plan is one
// range-less rest of every bracket (a single cursor reads everything).
func NewPlan(boundaries []bson.RawValue) Plan {
	kept := Increasing(boundaries)
	var p Plan
	split := map[Bracket]bool{}
	for i, b := range kept {
		br := BracketOf(b.Type)
		var lo *bson.RawValue
		if i > 0 && BracketOf(kept[i-1].Type) == br {
			lo = &kept[i-1]
		}
		if lo == nil { // the first boundary of its bracket: the bracket's start below it
			split[br] = true
		}
		p.Ranges = append(p.Ranges, Range{Bracket: br, Lo: lo, Hi: &kept[i]})
		if i == len(kept)-1 || BracketOf(kept[i+1].Type) != br { // and its end above the last
			p.Ranges = append(p.Ranges, Range{Bracket: br, Lo: &kept[i]})
		}
	}
	for br := MinKey; br <= MaxKey; br++ {
		if !split[br] && holdsID(br) {
			p.Rest = append(p.Rest, br)
		}
	}
	return p
}

// Increasing returns the usable values of vs (in their order) that Compare sees strictly
// above the one kept before them.
func Increasing(vs []bson.RawValue) []bson.RawValue {
	var out []bson.RawValue
	for _, v := range vs {
		if !Usable(v) || (len(out) > 0 && Compare(out[len(out)-1], v) >= 0) {
			continue
		}
		out = append(out, v)
	}
	return out
}

// Usable reports a value that can bound a range: a number but NaN (which no comparison
// matches), a string, a document, binary data, an ObjectId, a boolean, a date or a
// timestamp. Values of the brackets of a single value (null, MinKey, MaxKey, undefined)
// bound nothing; symbols, code and DBPointers are left to the rest, where no comparison of
// theirs is needed.
func Usable(v bson.RawValue) bool {
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return !isNaN(v)
	case bson.TypeString, bson.TypeEmbeddedDocument, bson.TypeBinary, bson.TypeObjectID,
		bson.TypeBoolean, bson.TypeDateTime, bson.TypeTimestamp:
		return true
	}
	return false
}

// Choose picks parts-1 boundaries spread evenly over sorted, values in the server's order
// (a sample of _id values, the keys of a split): the usable, increasing ones (Increasing),
// at equal steps. It returns fewer when there are not enough distinct values.
func Choose(sorted []bson.RawValue, parts int) []bson.RawValue {
	vs := Increasing(sorted)
	if parts < 2 || len(vs) == 0 {
		return nil
	}
	if len(vs) < parts {
		return vs
	}
	out := make([]bson.RawValue, 0, parts-1)
	for k := 1; k < parts; k++ {
		out = append(out, vs[k*len(vs)/parts])
	}
	return Increasing(out)
}

// holdsID reports the brackets an _id can be of: every one but arrays and regular
// expressions, which MongoDB refuses as _id.
func holdsID(b Bracket) bool { return b != Array && b != Regex }

// Filter is the query filter of the range:
//
//	{_id: {$gte: Lo, $lt: Hi}}
//
// without the bound that is nil. Type bracketing confines each comparison to the bracket
// of its operand, so a range open at one end still holds only its own bracket's values.
func (r Range) Filter() bson.D {
	var cond bson.D
	if r.Lo != nil {
		cond = append(cond, bson.E{Key: "$gte", Value: *r.Lo})
	}
	if r.Hi != nil {
		cond = append(cond, bson.E{Key: "$lt", Value: *r.Hi})
	}
	return bson.D{{Key: "_id", Value: cond}}
}

// String describes the range for logs and errors, bounds in extended JSON.
func (r Range) String() string {
	lo, hi := "start of "+r.Bracket.String(), "end of "+r.Bracket.String()
	if r.Lo != nil {
		lo = r.Lo.String()
	}
	if r.Hi != nil {
		hi = r.Hi.String()
	}
	return "[" + lo + ", " + hi + ")"
}

// typeAliases are the $type names of each bracket that can hold an _id; common says the
// name is one every server knows (FerretDB v1 knows only these, and can store no value of
// the others).
var typeAliases = map[Bracket][]struct {
	name   string
	common bool
}{
	MinKey:        {{"minKey", false}},
	Undefined:     {{"undefined", false}},
	Null:          {{"null", true}},
	Number:        {{"number", true}},
	String:        {{"string", true}, {"symbol", false}},
	Object:        {{"object", true}},
	Binary:        {{"binData", true}},
	ObjectID:      {{"objectId", true}},
	Bool:          {{"bool", true}},
	Date:          {{"date", true}},
	Timestamp:     {{"timestamp", true}},
	DBPointer:     {{"dbPointer", false}},
	Code:          {{"javascript", false}},
	CodeWithScope: {{"javascriptWithScope", false}},
	MaxKey:        {{"maxKey", false}},
}

// RestFilter selects the documents no range holds, by the types of the rest's brackets:
//
//	{_id: {$type: ["null", "number", …]}}
//
// With commonOnly, only the type names every server knows are listed.
func (p Plan) RestFilter(commonOnly bool) bson.D {
	names := bson.A{}
	for _, b := range p.Rest {
		for _, a := range typeAliases[b] {
			if a.common || !commonOnly {
				names = append(names, a.name)
			}
		}
	}
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$type", Value: names}}}}
}

// NaNFilter selects a NaN _id when the plan divides the numbers (no comparison matches
// NaN, so no range of numbers holds it; {_id: NaN} matches a double or decimal NaN), and
// is nil otherwise: the rest's "number" holds it then.
func (p Plan) NaNFilter() bson.D {
	for _, r := range p.Ranges {
		if r.Bracket == Number {
			nan := bson.RawValue{Type: bson.TypeDouble, Value: []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}}
			return bson.D{{Key: "_id", Value: nan}}
		}
	}
	return nil
}

// String names the bracket as the $type names of its types do.
func (b Bracket) String() string {
	switch b {
	case Array:
		return "array"
	case Regex:
		return "regex"
	}
	var names []string
	for _, a := range typeAliases[b] {
		names = append(names, a.name)
	}
	return strings.Join(names, "/")
}
