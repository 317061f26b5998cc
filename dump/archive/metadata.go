package archive

import (
	"bytes"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Metadata is the parsed metadata JSON of an entry.
type Metadata struct {
	Options        bson.Raw   // listCollections options; nil when absent or empty
	Indexes        []bson.Raw // index specs, key order preserved exactly
	UUID           string     // 32 lowercase hex or ""
	CollectionName string
	Type           string
}

// ParseMetadata parses the metadata JSON of a prelude entry the way
// mongorestore does: canonical Extended JSON v2, plus bare JSON numbers
// (int32 if it fits, else int64; double with '.' or an exponent), the legacy
// {"$binary":"…","$type":"…"} form and "options":{}. Relaxed dates are
// rejected. Unknown keys are ignored. Text written by mongodump 4.2.0–4.2.2,
// which did not escape quotes inside keys (TOOLS-2453), is repaired. An
// empty text (an entry without metadata) gives an empty Metadata. The uuid
// may be in either case; it is returned in lowercase.
func ParseMetadata(text string) (*Metadata, error) {
	m := &Metadata{}
	if text == "" {
		return m, nil
	}
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(text), true, &raw); err != nil {
		fixed, ok := repairKeys([]byte(text))
		if !ok || bson.UnmarshalExtJSON(fixed, true, &raw) != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadMetadata, err)
		}
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMetadata, err)
	}
	for _, el := range elems {
		k, v := el.Key(), el.Value()
		if v.Type == bson.TypeNull {
			switch k {
			case "options":
				m.Options = nil
			case "indexes":
				m.Indexes = nil
			case "uuid":
				m.UUID = ""
			case "collectionName":
				m.CollectionName = ""
			case "type":
				m.Type = ""
			}
			continue
		}
		switch k {
		case "options":
			d, ok := v.DocumentOK()
			if !ok {
				return nil, fmt.Errorf("%w: options is a BSON %s, want an object", ErrBadMetadata, v.Type)
			}
			m.Options = nil
			if len(d) > minDocSize {
				m.Options = d
			}
		case "indexes":
			a, ok := v.ArrayOK()
			if !ok {
				return nil, fmt.Errorf("%w: indexes is a BSON %s, want an array", ErrBadMetadata, v.Type)
			}
			vals, err := a.Values()
			if err != nil {
				return nil, fmt.Errorf("%w: indexes: %v", ErrBadMetadata, err)
			}
			m.Indexes = make([]bson.Raw, 0, len(vals))
			for i, iv := range vals {
				d, ok := iv.DocumentOK()
				if !ok {
					return nil, fmt.Errorf("%w: index %d is a BSON %s, want an object", ErrBadMetadata, i, iv.Type)
				}
				m.Indexes = append(m.Indexes, d)
			}
		case "uuid", "collectionName", "type":
			s, ok := v.StringValueOK()
			if !ok {
				return nil, fmt.Errorf("%w: %s is a BSON %s, want a string", ErrBadMetadata, k, v.Type)
			}
			switch k {
			case "uuid":
				if !isHex32(s) {
					return nil, fmt.Errorf("%w: uuid %q is not 32 hex digits", ErrBadMetadata, s)
				}
				m.UUID = strings.ToLower(s)
			case "collectionName":
				m.CollectionName = s
			case "type":
				m.Type = s
			}
		}
	}
	return m, nil
}

func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// FormatMetadata produces the metadata JSON exactly as mongodump 100.x does
// for the same listCollections/listIndexes answers: keys options (omitted
// when empty), indexes (never null), uuid (omitted when ""), collectionName,
// type (omitted when ""); canonical Extended JSON v2 without HTML escaping.
// Like mongodump it refuses values whose JSON would not read back as the same
// BSON (e.g. strings that are not valid UTF-8).
func FormatMetadata(m *Metadata) (string, error) {
	if m == nil {
		return "", fmt.Errorf("%w: nil metadata", ErrBadMetadata)
	}
	d := make(bson.D, 0, 5)
	if len(m.Options) > 0 {
		if err := m.Options.Validate(); err != nil {
			return "", fmt.Errorf("%w: options: %v", ErrBadMetadata, err)
		}
		if len(m.Options) > minDocSize {
			d = append(d, bson.E{Key: "options", Value: m.Options})
		}
	}
	idx := make(bson.A, len(m.Indexes))
	for i, spec := range m.Indexes {
		if err := spec.Validate(); err != nil {
			return "", fmt.Errorf("%w: index %d: %v", ErrBadMetadata, i, err)
		}
		idx[i] = spec
	}
	d = append(d, bson.E{Key: "indexes", Value: idx})
	if m.UUID != "" {
		if !isHex32(m.UUID) || strings.ToLower(m.UUID) != m.UUID {
			return "", fmt.Errorf("%w: uuid %q is not 32 lowercase hex digits", ErrBadMetadata, m.UUID)
		}
		d = append(d, bson.E{Key: "uuid", Value: m.UUID})
	}
	d = append(d, bson.E{Key: "collectionName", Value: m.CollectionName})
	if m.Type != "" {
		d = append(d, bson.E{Key: "type", Value: m.Type})
	}
	out, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadMetadata, err)
	}
	want, err := bson.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadMetadata, err)
	}
	var back bson.Raw
	if err := bson.UnmarshalExtJSON(out, true, &back); err != nil || !bytes.Equal(back, want) {
		return "", fmt.Errorf("%w: metadata does not survive a round trip through Extended JSON", ErrBadMetadata)
	}
	return string(out), nil
}

// Limits of the key repair: it re-reads the text once per attempt.
const (
	maxRepairInput = 1 << 20
	maxRepairWork  = 16 << 20 // bytes scanned over all attempts
)

// repairKeys reads src as JSON whose object keys may have been written
// verbatim, without escaping (the driver bug behind TOOLS-2453), and returns
// the same JSON with properly escaped keys. Every key is first read as a
// normal JSON string; when the text does not parse, keys are re-read as raw
// bytes up to a later `":`, backtracking over these choices within a work
// budget. It returns false when no reading parses.
func repairKeys(src []byte) ([]byte, bool) {
	if len(src) > maxRepairInput {
		return nil, false
	}
	p := &repairer{src: src}
	for p.work <= maxRepairWork {
		p.work += len(src) + 1
		p.out, p.n, p.exhausted = p.out[:0], 0, -1
		if i, ok := p.value(0, 0); ok && p.ws(i) == len(src) {
			return p.out, true
		}
		if p.work > maxRepairWork {
			return nil, false
		}
		lim := p.n
		if p.exhausted >= 0 {
			lim = p.exhausted
		}
		if lim > len(p.choices) {
			lim = len(p.choices)
		}
		if lim == 0 {
			return nil, false
		}
		p.choices = p.choices[:lim]
		p.choices[lim-1]++
	}
	return nil, false
}

type repairer struct {
	src       []byte
	out       []byte
	choices   []int // alternative chosen at each key, in order of encounter
	n         int   // keys met in this attempt
	exhausted int   // key whose chosen alternative does not exist, or -1
	work      int   // bytes scanned so far, over all attempts
}

const maxRepairDepth = 200

func (p *repairer) ws(i int) int {
	for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t' || p.src[i] == '\n' || p.src[i] == '\r') {
		i++
	}
	return i
}

func (p *repairer) value(i, depth int) (int, bool) {
	i = p.ws(i)
	if i >= len(p.src) || depth > maxRepairDepth {
		return 0, false
	}
	switch c := p.src[i]; {
	case c == '{':
		return p.object(i, depth+1)
	case c == '[':
		p.out = append(p.out, '[')
		i = p.ws(i + 1)
		if i < len(p.src) && p.src[i] == ']' {
			p.out = append(p.out, ']')
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = p.value(i, depth+1); !ok {
				return 0, false
			}
			var done bool
			if i, done, ok = p.separator(i, ']'); !ok || done {
				return i, ok
			}
		}
	case c == '"':
		end, ok := p.str(i)
		if !ok {
			return 0, false
		}
		p.out = append(p.out, p.src[i:end]...)
		return end, true
	case c == '-' || '0' <= c && c <= '9':
		j := i
		for j < len(p.src) && strings.IndexByte("+-.eE0123456789", p.src[j]) >= 0 {
			j++
		}
		p.out = append(p.out, p.src[i:j]...)
		return j, true
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.src[i:], []byte(lit)) {
				p.out = append(p.out, lit...)
				return i + len(lit), true
			}
		}
		return 0, false
	}
}

// str returns the end (after the closing quote) of the JSON string at i.
func (p *repairer) str(i int) (int, bool) {
	for j := i + 1; j < len(p.src); j++ {
		switch p.src[j] {
		case '"':
			return j + 1, true
		case '\\':
			j++
		}
	}
	return 0, false
}

func (p *repairer) object(i, depth int) (int, bool) {
	p.out = append(p.out, '{')
	i = p.ws(i + 1)
	if i < len(p.src) && p.src[i] == '}' {
		p.out = append(p.out, '}')
		return i + 1, true
	}
	for {
		i = p.ws(i)
		var ok bool
		if i, ok = p.key(i); !ok {
			return 0, false
		}
		i = p.ws(i)
		if i >= len(p.src) || p.src[i] != ':' {
			return 0, false
		}
		p.out = append(p.out, ':')
		if i, ok = p.value(i+1, depth); !ok {
			return 0, false
		}
		var done bool
		if i, done, ok = p.separator(i, '}'); !ok || done {
			return i, ok
		}
	}
}

// separator copies what follows a member of an array or object at i: a comma (done false,
// next the index after it) or the closing bracket closer (done true, next the index after
// it); anything else fails.
func (p *repairer) separator(i int, closer byte) (next int, done, ok bool) {
	i = p.ws(i)
	if i >= len(p.src) {
		return 0, false, false
	}
	p.out = append(p.out, p.src[i])
	switch p.src[i] {
	case ',':
		return i + 1, false, true
	case closer:
		return i + 1, true, true
	default:
		return 0, false, false
	}
}

// key reads the object key at i according to this attempt's choice for it:
// 0 is the key as a JSON string; k > 0 is the key as raw bytes up to the
// k-th later quote that is directly followed by a colon.
func (p *repairer) key(i int) (int, bool) {
	if i >= len(p.src) || p.src[i] != '"' {
		return 0, false
	}
	k := p.n
	p.n++
	if k == len(p.choices) {
		p.choices = append(p.choices, 0)
	}
	strictEnd, strictOK := p.str(i)
	if p.choices[k] == 0 {
		if !strictOK {
			return 0, false
		}
		p.out = append(p.out, p.src[i:strictEnd]...)
		return strictEnd, true
	}
	plain := strictOK && bytes.IndexByte(p.src[i+1:strictEnd-1], '\\') < 0
	found := 0
	for q := i + 1; q+1 < len(p.src); q++ {
		if p.src[q] == 0 {
			break // a BSON key cannot contain a null byte
		}
		if p.src[q] != '"' || p.src[q+1] != ':' || (plain && q == strictEnd-1) {
			continue
		}
		if found++; found == p.choices[k] {
			p.work += q - i
			p.out = appendJSONKey(p.out, p.src[i+1:q])
			return q + 1, true
		}
	}
	p.work += len(p.src) - i
	p.exhausted = k
	return 0, false
}

func appendJSONKey(b, key []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range key {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
