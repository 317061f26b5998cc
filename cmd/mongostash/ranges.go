package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// Every numeric or duration setting states the values that make sense in a `range` tag,
// "MIN..MAX" in the flag's own notation (10ms, 8MiB, 64), and, where 0 means something
// else (off, the default, a value derived from another setting), what it means in a
// `zero` tag. The help of each flag ends with its range, and a value outside it is refused
// before anything runs, with exit 2, naming the flag, its variable and the range: a
// setting that makes no sense never quietly becomes something else.

// rangeSpec is a parsed range tag, in the flag's own unit (nanoseconds, bytes, a count).
type rangeSpec struct {
	lo, hi         int64
	loText, hiText string
	zero           string // what 0 means; "" when 0 is not allowed (unless in range)
}

func parseRange(f *kong.Value) (rangeSpec, bool, error) {
	spec := f.Tag.Get("range")
	if spec == "" {
		return rangeSpec{}, false, nil
	}
	loText, hiText, ok := strings.Cut(spec, "..")
	if !ok {
		return rangeSpec{}, false, fmt.Errorf("flag --%s: range tag %q is not MIN..MAX", f.Name, spec)
	}
	r := rangeSpec{loText: loText, hiText: hiText, zero: f.Tag.Get("zero")}
	var err error
	if r.lo, err = parseInUnit(f.Target, loText); err == nil {
		r.hi, err = parseInUnit(f.Target, hiText)
	}
	if err != nil {
		return rangeSpec{}, false, fmt.Errorf("flag --%s: range tag %q: %v", f.Name, spec, err)
	}
	return r, true, nil
}

// parseInUnit reads s as a value of target's type, as an int64.
func parseInUnit(target reflect.Value, s string) (int64, error) {
	switch target.Interface().(type) {
	case time.Duration, seconds:
		d, err := time.ParseDuration(s)
		return int64(d), err
	case byteSize:
		var b byteSize
		err := b.UnmarshalText([]byte(s))
		return int64(b), err
	}
	return strconv.ParseInt(s, 10, 64)
}

// formatInUnit prints n as the flag's type prints it.
func formatInUnit(target reflect.Value, n int64) string {
	switch target.Interface().(type) {
	case time.Duration, seconds:
		return time.Duration(n).String()
	case byteSize:
		return byteSize(n).String()
	}
	return strconv.FormatInt(n, 10)
}

// words is the range as the help and the errors say it.
func (r rangeSpec) words() string {
	if r.zero != "" {
		return fmt.Sprintf("0 = %s, else %s to %s", r.zero, r.loText, r.hiText)
	}
	return fmt.Sprintf("%s to %s", r.loText, r.hiText)
}

// describeRanges appends each ranged flag's range to its help. It runs once, on the model,
// before anything is parsed; a malformed tag is a programming error that fails every run
// (and the tests).
func describeRanges(app *kong.Application) error {
	return kong.Visit(app, func(node kong.Visitable, next kong.Next) error {
		if v, ok := node.(*kong.Value); ok {
			r, ok, err := parseRange(v)
			if err != nil {
				return err
			}
			if ok {
				v.Help = strings.TrimSuffix(v.Help, ".") + ". Range: " + r.words() + "."
			}
		}
		return next(nil)
	})
}

// checkRanges refuses a value outside its flag's range, naming the flag and its variable.
func checkRanges(kctx *kong.Context, envs map[*kong.Value][]string) error {
	for _, f := range kctx.Flags() {
		r, ok, err := parseRange(f.Value)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		n := f.Target.Int()
		if (n == 0 && r.zero != "") || (n >= r.lo && n <= r.hi) {
			continue
		}
		name := "--" + f.Name
		if vars := envs[f.Value]; len(vars) > 0 {
			name += " (" + strings.Join(vars, ", ") + ")"
		}
		return usagef("%s is %s: it must be %s", name, formatInUnit(f.Target, n), r.words())
	}
	return nil
}

// byteSize is a size in bytes, given as a number of bytes or with a unit: 8MiB, 16MiB,
// 512KiB, 1GiB (powers of 1024), or 8MB, 1GB (powers of 1000).
type byteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (b *byteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	factor := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = strings.TrimSpace(num), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return fmt.Errorf("%q is not a size: give a number of bytes or a number with a unit (512KiB, 8MiB, 1GiB)", text)
	}
	*b = byteSize(n * factor)
	return nil
}

// String prints the size with the largest binary unit that divides it.
func (b byteSize) String() string {
	for i := 3; i >= 0; i-- { // TiB down to KiB
		if u := byteUnits[i]; b != 0 && int64(b)%u.factor == 0 {
			return strconv.FormatInt(int64(b)/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
