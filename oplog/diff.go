package oplog

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// This file applies the "$v: 2" update format of MongoDB 5.0 and later (a diff of the
// document) the way the server's oplog applier does, so that a replay that cannot run
// the diff on the server (no applyOps) computes the very same document. The rules,
// from the server's document_diff_applier:
//
//   - a document diff has sections d (fields to delete), u (fields to update), i (fields
//     to insert), b (binary column diffs of time-series buckets: {o: offset, d: bytes})
//     and s<field> (a diff of the embedded document or array in <field>);
//   - fields of the pre-image keep their order: a deleted field goes, an updated field is
//     replaced in place, a field named in i is taken out (it is appended at the end);
//   - then the u fields the pre-image did not have are appended, followed by every i
//     field, each in the order of its section;
//   - a sub-diff whose field is missing does nothing; one whose field has another type
//     than expected (re-applying an old diff to a newer document) sets the field to null;
//   - an array diff {a: true, l: <new length>, u<n>: value, s<n>: sub-diff} keeps the
//     elements it does not name, truncates to l, and pads with null up to l or up to an
//     index it names beyond the end; a sub-diff of an index beyond the end gives null.

// ErrBadDiff means a $v:2 update diff is malformed.
var ErrBadDiff = errors.New("oplog: malformed update diff")

// The bounds of what a diff can make: no diff a server wrote makes a document larger than
// the server builds (16 MiB, and the 16 KiB of room it keeps for its own fields), with
// more elements in an array than fit in one (an element takes at least 3 bytes), or nested
// deeper than the server nests documents. A diff beyond them is refused as malformed
// before it costs more memory or stack than that: a few bytes of diff could otherwise ask
// for an array of 2^62 nulls.
const (
	maxDocumentBytes = 16<<20 + 16<<10
	maxArrayLen      = maxDocumentBytes / 3
	maxDiffDepth     = 200
)

// errTooLarge is the refusal of a diff that would make more than a document can hold.
var errTooLarge = fmt.Errorf("%w: the document would be larger than %d bytes", ErrBadDiff, maxDocumentBytes)

type modKind int

const (
	modDelete modKind = iota
	modUpdate
	modInsert
	modSubDoc
	modSubArray
	modBinary
)

type fieldMod struct {
	kind  modKind
	value bson.RawValue // update/insert value
	sub   bson.Raw      // sub-diff, or the binary diff {o, d}
}

// docDiff is a parsed document diff.
type docDiff struct {
	mods    map[string]fieldMod
	appends []bson.RawElement // u fields then i fields, in section order
}

func parseDocDiff(diff bson.Raw) (docDiff, error) {
	d := docDiff{mods: map[string]fieldMod{}}
	elems, err := diff.Elements()
	if err != nil {
		return d, fmt.Errorf("%w: %v", ErrBadDiff, err)
	}
	var updates, inserts []bson.RawElement
	for _, el := range elems {
		key, v := el.Key(), el.Value()
		section, ok := v.DocumentOK()
		if !ok {
			return d, fmt.Errorf("%w: section %q is a %s, not a document", ErrBadDiff, key, v.Type)
		}
		switch {
		case key == "d":
			err = d.addSection(section, modDelete, nil)
		case key == "u":
			err = d.addSection(section, modUpdate, &updates)
		case key == "i":
			err = d.addSection(section, modInsert, &inserts)
		case key == "b":
			err = d.addSection(section, modBinary, nil)
		case len(key) > 1 && key[0] == 's':
			kind := modSubDoc
			if isArrayDiff(section) {
				kind = modSubArray
			}
			err = d.add(key[1:], fieldMod{kind: kind, sub: section})
		default:
			err = fmt.Errorf("%w: unknown section %q", ErrBadDiff, key)
		}
		if err != nil {
			return d, err
		}
	}
	d.appends = append(updates, inserts...)
	return d, nil
}

func (d *docDiff) addSection(section bson.Raw, kind modKind, list *[]bson.RawElement) error {
	elems, err := section.Elements()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadDiff, err)
	}
	for _, el := range elems {
		m := fieldMod{kind: kind, value: el.Value()}
		if kind == modBinary {
			doc, ok := el.Value().DocumentOK()
			if !ok {
				return fmt.Errorf("%w: binary diff of %q is not a document", ErrBadDiff, el.Key())
			}
			m.sub = doc
		}
		if err := d.add(el.Key(), m); err != nil {
			return err
		}
		if list != nil {
			*list = append(*list, el)
		}
	}
	return nil
}

func (d *docDiff) add(field string, m fieldMod) error {
	if _, dup := d.mods[field]; dup {
		return fmt.Errorf("%w: field %q appears twice", ErrBadDiff, field)
	}
	d.mods[field] = m
	return nil
}

func isArrayDiff(diff bson.Raw) bool {
	b, ok := diff.Lookup("a").BooleanOK()
	return ok && b
}

// applyDiff returns the document the server would make from pre and a $v:2 diff.
func applyDiff(pre, diff bson.Raw) (bson.Raw, error) {
	out, err := appendDiffedDoc(nil, pre, diff, 0)
	return bson.Raw(out), err
}

// appendDiffedDoc appends pre with diff applied, as a complete document; depth is how
// deep in the document it is.
func appendDiffedDoc(dst []byte, pre, diff bson.Raw, depth int) ([]byte, error) {
	if depth > maxDiffDepth {
		return dst, fmt.Errorf("%w: nested more than %d levels deep", ErrBadDiff, maxDiffDepth)
	}
	d, err := parseDocDiff(diff)
	if err != nil {
		return dst, err
	}
	dst, start := beginDoc(dst)
	written := map[string]bool{}
	elems, err := pre.Elements()
	if err != nil {
		return dst, fmt.Errorf("%w: pre-image: %v", ErrBadDiff, err)
	}
	for _, el := range elems {
		key := el.Key()
		m, ok := d.mods[key]
		if !ok {
			dst = append(dst, el...)
			continue
		}
		if dst, err = applyFieldMod(dst, key, el.Value(), m, depth); err != nil {
			return dst, err
		}
		if m.kind == modUpdate {
			written[key] = true
		}
	}
	for _, el := range d.appends {
		if !written[el.Key()] {
			dst = append(dst, el...)
		}
	}
	if len(dst) >= maxDocumentBytes {
		return dst, errTooLarge
	}
	return endDoc(dst, start), nil
}

// applyFieldMod appends what a field of the pre-image becomes.
func applyFieldMod(dst []byte, key string, pre bson.RawValue, m fieldMod, depth int) ([]byte, error) {
	switch m.kind {
	case modDelete, modInsert: // gone, or appended at the end
		return dst, nil
	case modUpdate:
		return appendValue(dst, key, m.value), nil
	case modSubDoc:
		sub, ok := pre.DocumentOK()
		if !ok {
			return appendNull(dst, key), nil
		}
		return appendDiffedDoc(appendKey(dst, bson.TypeEmbeddedDocument, key), sub, m.sub, depth+1)
	case modSubArray:
		arr, ok := pre.ArrayOK()
		if !ok {
			return appendNull(dst, key), nil
		}
		return appendDiffedArray(appendKey(dst, bson.TypeArray, key), bson.Raw(arr), m.sub, depth+1)
	case modBinary:
		return appendBinaryDiff(dst, key, pre, m.sub)
	}
	return dst, fmt.Errorf("%w: modification kind %d", ErrBadDiff, m.kind)
}

// appendBinaryDiff applies a time-series column diff {o: offset, d: BinData}: the bytes
// from offset on are replaced by d, the subtype kept. A value shorter than the offset is
// left as it is (the server's tests: the diff was already applied, then a later one
// shrank the value), and so is a value that is not binary data.
func appendBinaryDiff(dst []byte, key string, pre bson.RawValue, diff bson.Raw) ([]byte, error) {
	off, okO := diff.Lookup("o").AsInt64OK()
	_, data, okD := diff.Lookup("d").BinaryOK()
	if !okO || !okD || off < 0 {
		return dst, fmt.Errorf("%w: binary diff of %q must be {o: <offset>, d: <BinData>}", ErrBadDiff, key)
	}
	subtype, old, ok := pre.BinaryOK()
	if !ok || int64(len(old)) < off {
		return appendValue(dst, key, pre), nil
	}
	merged := make([]byte, 0, int(off)+len(data))
	merged = append(append(merged, old[:off]...), data...)
	return appendBinary(dst, key, subtype, merged), nil
}

type arrayMod struct {
	idx int
	m   fieldMod
}

func parseArrayDiff(diff bson.Raw) (newLen int, mods []arrayMod, err error) {
	newLen = -1
	elems, err := diff.Elements()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrBadDiff, err)
	}
	for _, el := range elems {
		key, v := el.Key(), el.Value()
		switch {
		case key == "a":
			continue
		case key == "l":
			n, ok := v.AsInt64OK()
			if !ok || n < 0 || n > maxArrayLen {
				return 0, nil, fmt.Errorf("%w: array length %s", ErrBadDiff, v)
			}
			newLen = int(n)
		case len(key) > 1 && (key[0] == 'u' || key[0] == 's'):
			idx, err := strconv.Atoi(key[1:])
			if err != nil || idx < 0 || idx >= maxArrayLen || strings.HasPrefix(key[1:], "+") {
				return 0, nil, fmt.Errorf("%w: array index %q", ErrBadDiff, key)
			}
			m := fieldMod{kind: modUpdate, value: v}
			if key[0] == 's' {
				sub, ok := v.DocumentOK()
				if !ok {
					return 0, nil, fmt.Errorf("%w: array sub-diff %q is not a document", ErrBadDiff, key)
				}
				m = fieldMod{kind: modSubDoc, sub: sub}
				if isArrayDiff(sub) {
					m.kind = modSubArray
				}
			}
			mods = append(mods, arrayMod{idx: idx, m: m})
		default:
			return 0, nil, fmt.Errorf("%w: unknown array diff field %q", ErrBadDiff, key)
		}
	}
	sort.SliceStable(mods, func(i, j int) bool { return mods[i].idx < mods[j].idx })
	for i := 1; i < len(mods); i++ {
		if mods[i].idx == mods[i-1].idx {
			return 0, nil, fmt.Errorf("%w: array index %d modified twice", ErrBadDiff, mods[i].idx)
		}
	}
	if newLen >= 0 && len(mods) > 0 && mods[len(mods)-1].idx >= newLen {
		return 0, nil, fmt.Errorf("%w: array index %d beyond the new length %d", ErrBadDiff, mods[len(mods)-1].idx, newLen)
	}
	return newLen, mods, nil
}

// appendDiffedArray appends the array pre with an array diff applied, as a complete
// array (the caller wrote its type byte and key).
func appendDiffedArray(dst []byte, pre bson.Raw, diff bson.Raw, depth int) ([]byte, error) {
	if depth > maxDiffDepth {
		return dst, fmt.Errorf("%w: nested more than %d levels deep", ErrBadDiff, maxDiffDepth)
	}
	newLen, mods, err := parseArrayDiff(diff)
	if err != nil {
		return dst, err
	}
	values, err := bson.RawArray(pre).Values()
	if err != nil {
		return dst, fmt.Errorf("%w: pre-image array: %v", ErrBadDiff, err)
	}
	dst, start := beginDoc(dst)
	idx := 0
	for ; idx < len(values) && (newLen < 0 || idx < newLen); idx++ {
		if len(mods) > 0 && mods[0].idx == idx {
			if dst, err = appendArrayMod(dst, idx, &values[idx], mods[0].m, depth); err != nil {
				return dst, err
			}
			mods = mods[1:]
			continue
		}
		dst = appendValue(dst, arrayKey(idx), values[idx])
	}
	// The rest is padding with null, and the modified indexes within it: a short diff can
	// ask for a long padding, which must fit the document before it is built.
	end := max(newLen, idx)
	if len(mods) > 0 {
		end = max(end, mods[len(mods)-1].idx+1)
	}
	pad := nullsSize(idx, end)
	if len(dst)+pad >= maxDocumentBytes {
		return dst, errTooLarge
	}
	dst = slices.Grow(dst, pad)
	for ; idx < end; idx++ {
		if len(mods) > 0 && mods[0].idx == idx {
			if dst, err = appendArrayMod(dst, idx, nil, mods[0].m, depth); err != nil {
				return dst, err
			}
			mods = mods[1:]
			continue
		}
		dst = appendNull(dst, arrayKey(idx))
	}
	return endDoc(dst, start), nil
}

// nullsSize is the size of null elements for the array indexes from to to-1.
func nullsSize(from, to int) int {
	n := 0
	for digits, next := 1, 10; from < to; digits, next = digits+1, next*10 {
		if from < next {
			upTo := min(to, next)
			n += (upTo - from) * (2 + digits) // type byte, key, NUL
			from = upTo
		}
	}
	return n
}

// appendArrayMod appends the new value of array index idx; pre is nil past the end of
// the pre-image.
func appendArrayMod(dst []byte, idx int, pre *bson.RawValue, m fieldMod, depth int) ([]byte, error) {
	key := arrayKey(idx)
	if m.kind == modUpdate {
		return appendValue(dst, key, m.value), nil
	}
	if pre == nil {
		return appendNull(dst, key), nil
	}
	return applyFieldMod(dst, key, *pre, m, depth)
}
