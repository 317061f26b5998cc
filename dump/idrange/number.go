package idrange

import (
	"cmp"
	"math"
	"math/big"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// number is a BSON number reduced to what ordering needs, exactly: its class (NaN sorts
// below -Infinity, which sorts below every finite value), and a finite value as an int64
// when it is one, else as a fraction (doubles with a fraction part, decimals).
type number struct {
	class int      // numNaN, numNegInf, numFinite or numPosInf: their order
	isInt bool     // a finite value held in i
	i     int64    // the value, when isInt
	rat   *big.Rat // the value, when finite and not isInt
}

const (
	numNaN = iota
	numNegInf
	numFinite
	numPosInf
)

// toNumber reads an int32, int64, double or decimal.
func toNumber(v bson.RawValue) number {
	switch v.Type {
	case bson.TypeInt32:
		return number{class: numFinite, isInt: true, i: int64(v.Int32())}
	case bson.TypeInt64:
		return number{class: numFinite, isInt: true, i: v.Int64()}
	case bson.TypeDouble:
		return doubleNumber(v.Double())
	}
	return decimalNumber(v.Decimal128())
}

func doubleNumber(d float64) number {
	switch {
	case math.IsNaN(d):
		return number{class: numNaN}
	case math.IsInf(d, -1):
		return number{class: numNegInf}
	case math.IsInf(d, 1):
		return number{class: numPosInf}
	case d == math.Trunc(d) && d >= -(1<<63) && d < 1<<63:
		return number{class: numFinite, isInt: true, i: int64(d)}
	}
	return number{class: numFinite, rat: new(big.Rat).SetFloat64(d)}
}

// decimalNumber reads a decimal exactly: its coefficient times a power of ten.
func decimalNumber(d bson.Decimal128) number {
	switch {
	case d.IsNaN():
		return number{class: numNaN}
	case d.IsInf() < 0:
		return number{class: numNegInf}
	case d.IsInf() > 0:
		return number{class: numPosInf}
	}
	coef, exp, err := d.BigInt()
	if err != nil {
		return number{class: numNaN} // not reached: only NaN and infinities have no coefficient
	}
	r := new(big.Rat).SetInt(coef)
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil)
	if exp >= 0 {
		r.Mul(r, new(big.Rat).SetInt(pow))
	} else {
		r.Quo(r, new(big.Rat).SetInt(pow))
	}
	if r.IsInt() && r.Num().IsInt64() {
		return number{class: numFinite, isInt: true, i: r.Num().Int64()}
	}
	return number{class: numFinite, rat: r}
}

// compareNumbers orders two numbers by value whatever their BSON types, as MongoDB sorts
// them: NaN (of either type) first and equal to NaN, then -Infinity, the finite values,
// +Infinity. 1 (int32), 1 (int64), 1.0 and the decimal 1 are equal; 2⁵³+1 (int64) is
// above 2⁵³ (double), and 0.1 (double) is not the decimal 0.1.
func compareNumbers(a, b bson.RawValue) int {
	if a.Type == bson.TypeInt32 && b.Type == bson.TypeInt32 {
		return cmp.Compare(int64(a.Int32()), int64(b.Int32()))
	}
	na, nb := toNumber(a), toNumber(b)
	switch {
	case na.class != nb.class:
		return cmp.Compare(na.class, nb.class)
	case na.class != numFinite:
		return 0
	case na.isInt && nb.isInt:
		return cmp.Compare(na.i, nb.i)
	}
	return na.exact().Cmp(nb.exact())
}

func (n number) exact() *big.Rat {
	if n.isInt {
		return new(big.Rat).SetInt64(n.i)
	}
	return n.rat
}

// isNaN reports a NaN of either number type.
func isNaN(v bson.RawValue) bool {
	return BracketOf(v.Type) == Number && toNumber(v).class == numNaN
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
