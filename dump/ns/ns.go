// Package ns selects and renames MongoDB namespaces ("<db>.<collection>") with the rules of
// mongorestore's --nsInclude, --nsExclude, --nsFrom and --nsTo (docs/archive-format.md §6,
// "Namespace selection").
//
// Patterns match the whole namespace. An unescaped `*` matches any run of bytes, dots and the
// empty run included; `\*` is a literal star, `\\` a literal backslash, and any other backslash
// vanishes (`\.` is `.`, a trailing `\` is nothing). Escapes are read left to right, so `\\*`
// is a literal backslash followed by a wildcard. (mongo-tools 100.x instead treats every `*`
// right after a backslash as literal, so it reads `\\*` as the two characters `\*`; only
// patterns containing `\\*` differ.) Every other character, regexp metacharacters included,
// stands for itself.
//
// A rename pair either uses stars (then from and to have the same number of unescaped stars,
// and the n-th star of to receives what the n-th star of from matched), or, when from contains
// a `$`, named placeholders `$name$`: then stars and backslashes are ordinary characters, as in
// mongo-tools. Matching is leftmost-shortest: earlier wildcards take as little as possible.
// A `$` in the target of a star-form pair is an error (mongo-tools would read `$1$` there as a
// reference to its internal wildcard numbering, an undocumented quirk). Detecting two sources
// renamed onto one target needs the whole namespace list, so it is left to the caller.
//
// The package is pure string handling: it must never talk to a server, read an archive, or
// compile user input into a backtracking matcher (matching here is a linear scan per
// literal).
package ns

import (
	"errors"
	"fmt"
	"strings"
)

// pattern is a compiled namespace pattern: literal runs separated by wildcards. A pattern
// with n wildcards has n+1 literals, some possibly empty.
type pattern struct {
	lits []string
}

// parseGlob compiles an include/exclude pattern, or a rename pattern without placeholders.
func parseGlob(s string) pattern {
	var (
		lits []string
		cur  strings.Builder
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '*') {
				i++
				cur.WriteByte(s[i])
			}
			// Any other backslash vanishes; the byte after it is read normally.
		case '*':
			lits = append(lits, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return pattern{lits: append(lits, cur.String())}
}

// match reports whether p matches all of s and, if caps is not nil, appends to *caps what
// each wildcard matched, earlier wildcards as short as possible.
//
// Taking the earliest occurrence of each middle literal is what makes earlier wildcards
// shortest, and it never loses a match: every middle literal is followed by a wildcard, so a
// later occurrence could only leave less room for the rest.
func (p pattern) match(s string, caps *[]string) bool {
	n := len(p.lits)
	if n == 1 {
		return s == p.lits[0]
	}
	first, last := p.lits[0], p.lits[n-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	pos, end := len(first), len(s)-len(last)
	for _, lit := range p.lits[1 : n-1] {
		j := strings.Index(s[pos:end], lit)
		if j < 0 {
			return false
		}
		if caps != nil {
			*caps = append(*caps, s[pos:pos+j])
		}
		pos += j + len(lit)
	}
	if caps != nil {
		*caps = append(*caps, s[pos:end])
	}
	return true
}

// Matcher decides which namespaces a dump or restore includes. It is immutable and safe for
// concurrent use.
type Matcher struct {
	include, exclude []pattern
}

// NewMatcher compiles include and exclude patterns: a namespace is selected when it matches an
// include pattern (any namespace, when include is empty) and no exclude pattern.
func NewMatcher(include, exclude []string) (*Matcher, error) {
	m := &Matcher{}
	var errs []error
	for _, list := range []struct {
		kind     string
		patterns []string
		into     *[]pattern
	}{{"include", include, &m.include}, {"exclude", exclude, &m.exclude}} {
		for _, s := range list.patterns {
			if strings.Contains(s, "$") {
				errs = append(errs, fmt.Errorf("ns: %s pattern %q: '$' is not allowed in include/exclude patterns", list.kind, s))
				continue
			}
			*list.into = append(*list.into, parseGlob(s))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Match reports whether namespace is selected; a nil Matcher selects every namespace.
func (m *Matcher) Match(namespace string) bool {
	if m == nil {
		return true
	}
	for _, p := range m.exclude {
		if p.match(namespace, nil) {
			return false
		}
	}
	if len(m.include) == 0 {
		return true
	}
	for _, p := range m.include {
		if p.match(namespace, nil) {
			return true
		}
	}
	return false
}

// piece is one part of a rename target: literal text, or what wildcard number capture of the
// source matched.
type piece struct {
	lit     string
	capture int // index into the source's captures; -1 for literal text
}

// renameRule is one compiled --nsFrom/--nsTo pair.
type renameRule struct {
	from pattern
	to   []piece
}

// Renamer maps source namespaces to target namespaces. It is immutable and safe for
// concurrent use.
type Renamer struct {
	rules []renameRule // in the order given; the last matching one wins
}

// NewRenamer compiles rename pairs: from[i] is renamed to to[i].
func NewRenamer(from, to []string) (*Renamer, error) {
	if len(from) != len(to) {
		return nil, fmt.Errorf("ns: %d rename sources but %d targets: they go in pairs", len(from), len(to))
	}
	r := &Renamer{}
	for i := range from {
		rule, err := compileRename(from[i], to[i])
		if err != nil {
			return nil, fmt.Errorf("ns: rename %q to %q: %w", from[i], to[i], err)
		}
		r.rules = append(r.rules, rule)
	}
	return r, nil
}

// Rename returns the target of namespace under the last pair whose source matches it, or
// namespace unchanged when none does (or r is nil).
func (r *Renamer) Rename(namespace string) string {
	if r == nil {
		return namespace
	}
	var caps []string
	for i := len(r.rules) - 1; i >= 0; i-- {
		rule := r.rules[i]
		caps = caps[:0]
		if !rule.from.match(namespace, &caps) {
			continue
		}
		var b strings.Builder
		for _, p := range rule.to {
			if p.capture >= 0 {
				b.WriteString(caps[p.capture])
			} else {
				b.WriteString(p.lit)
			}
		}
		return b.String()
	}
	return namespace
}

func compileRename(from, to string) (renameRule, error) {
	if !strings.Contains(from, "$") {
		if strings.Contains(to, "$") {
			return renameRule{}, errors.New("'$' in the target needs $name$ placeholders in the source")
		}
		src, dst := parseGlob(from), parseGlob(to)
		if len(src.lits) != len(dst.lits) {
			return renameRule{}, fmt.Errorf("%d wildcards in the source but %d in the target",
				len(src.lits)-1, len(dst.lits)-1)
		}
		var to []piece
		for i, lit := range dst.lits {
			if i > 0 {
				to = append(to, piece{capture: i - 1})
			}
			if lit != "" {
				to = append(to, piece{lit: lit, capture: -1})
			}
		}
		return renameRule{from: src, to: to}, nil
	}

	srcLits, srcNames, err := splitPlaceholders(from, "source")
	if err != nil {
		return renameRule{}, err
	}
	index := map[string]int{}
	for i, name := range srcNames {
		if _, dup := index[name]; dup {
			return renameRule{}, fmt.Errorf("placeholder $%s$ used more than once in the source", name)
		}
		index[name] = i
	}
	dstLits, dstNames, err := splitPlaceholders(to, "target")
	if err != nil {
		return renameRule{}, err
	}
	var pieces []piece
	for i, lit := range dstLits {
		if i > 0 {
			c, ok := index[dstNames[i-1]]
			if !ok {
				return renameRule{}, fmt.Errorf("placeholder $%s$ in the target is not in the source", dstNames[i-1])
			}
			pieces = append(pieces, piece{capture: c})
		}
		if lit != "" {
			pieces = append(pieces, piece{lit: lit, capture: -1})
		}
	}
	return renameRule{from: pattern{lits: srcLits}, to: pieces}, nil
}

// splitPlaceholders splits s at its $name$ placeholders into the literal text around them
// (taken verbatim: no escapes in this form) and the names, in order.
func splitPlaceholders(s, what string) (lits, names []string, err error) {
	parts := strings.Split(s, "$")
	if len(parts)%2 == 0 {
		return nil, nil, fmt.Errorf("odd number of '$' in the %s: placeholders are written $name$", what)
	}
	for i, p := range parts {
		if i%2 == 0 {
			lits = append(lits, p)
		} else {
			names = append(names, p)
		}
	}
	return lits, names, nil
}

// Split splits namespace into database and collection at the first dot (database names never
// contain one); without a dot the collection is empty.
func Split(namespace string) (db, coll string) {
	db, coll, _ = strings.Cut(namespace, ".")
	return db, coll
}

// Escape returns a pattern that matches exactly s, for building include/exclude patterns and
// star-form rename pairs from literal names (e.g. Escape(db) + ".*"). Names containing '$'
// cannot be written as patterns at all.
func Escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`).Replace(s)
}
