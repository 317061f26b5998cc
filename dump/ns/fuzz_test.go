package ns

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets compare the hand-written matcher with Go's regexp engine, whose
// leftmost-first semantics with lazy `(.*?)` groups is what mongo-tools relies on for "earlier
// stars as short as possible". The translation below is deliberately written separately from
// parseGlob.

// refGlob translates a star-form pattern into a regexp and the number of its wildcards.
func refGlob(p string) (string, int) {
	var re strings.Builder
	re.WriteString(`(?s)^`)
	stars := 0
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && (p[i+1] == '\\' || p[i+1] == '*'):
			re.WriteString(regexp.QuoteMeta(p[i+1 : i+2]))
			i++
		case p[i] == '\\':
			// vanishes
		case p[i] == '*':
			re.WriteString(`(.*?)`)
			stars++
		default:
			re.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	re.WriteString(`$`)
	return re.String(), stars
}

// refGlobTarget renders a star-form target with the given captures.
func refGlobTarget(p string, caps []string) string {
	var out strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && (p[i+1] == '\\' || p[i+1] == '*'):
			out.WriteByte(p[i+1])
			i++
		case p[i] == '\\':
		case p[i] == '*':
			out.WriteString(caps[0])
			caps = caps[1:]
		default:
			out.WriteByte(p[i])
		}
	}
	return out.String()
}

// refPlaceholders renames namespace under a $name$ pair, or reports that it does not apply.
func refPlaceholders(from, to, namespace string) (string, bool) {
	parts := strings.Split(from, "$")
	var re strings.Builder
	re.WriteString(`(?s)^`)
	group := map[string]int{}
	for i, part := range parts {
		if i%2 == 1 {
			group[part] = len(group) + 1
			re.WriteString(`(.*?)`)
		} else {
			re.WriteString(regexp.QuoteMeta(part))
		}
	}
	re.WriteString(`$`)
	m := regexp.MustCompile(re.String()).FindStringSubmatch(namespace)
	if m == nil {
		return "", false
	}
	var out strings.Builder
	for i, part := range strings.Split(to, "$") {
		if i%2 == 1 {
			out.WriteString(m[group[part]])
		} else {
			out.WriteString(part)
		}
	}
	return out.String(), true
}

func seedPatterns(f *testing.F) {
	for _, s := range [][3]string{
		{"db.*", "db2.*", "db.coll"},
		{"*.coll", "*.c2", "a.b.coll"},
		{"a*b*c", "*-*", "axxbyybc"},
		{`db.a\*`, `x\*`, "db.a*"},
		{`db.a\\*`, `x\\*`, `db.a\b`},
		{`d\b.\c`, `e.f`, "db.c"},
		{"acme.$x$", "acme_copy.$x$", "acme.users"},
		{"$db$.$coll$", "$coll$.$db$", "a.b.c"},
		{"*x*", "*x*", "xx"},
		{"", "", ""},
		{"**", "**", "abc"},
		{"a.*\\", "b.*", "a.\\"},
		{"dé.*", "ö.*", "dé.ç"},
		{"a\n*", "b*", "a\nz"},
	} {
		f.Add(s[0], s[1], s[2])
	}
}

func FuzzMatcher(f *testing.F) {
	seedPatterns(f)
	f.Fuzz(func(t *testing.T, pattern, other, namespace string) {
		m, err := NewMatcher([]string{pattern}, nil)
		if strings.Contains(pattern, "$") {
			if err == nil {
				t.Fatalf("NewMatcher(%q) accepted a '$'", pattern)
			}
		} else {
			if err != nil {
				t.Fatalf("NewMatcher(%q): %v", pattern, err)
			}
			got := m.Match(namespace)
			if utf8.ValidString(pattern) && utf8.ValidString(namespace) {
				re, _ := refGlob(pattern)
				if want := regexp.MustCompile(re).MatchString(namespace); got != want {
					t.Fatalf("pattern %q, namespace %q: Match = %v, regexp %s says %v", pattern, namespace, got, re, want)
				}
			}
			ex, err := NewMatcher(nil, []string{pattern})
			if err != nil {
				t.Fatal(err)
			}
			if ex.Match(namespace) == got {
				t.Fatalf("pattern %q as exclude does not select the complement for %q", pattern, namespace)
			}
			both, err := NewMatcher([]string{pattern}, []string{pattern})
			if err != nil {
				t.Fatal(err)
			}
			if both.Match(namespace) {
				t.Fatalf("exclude %q did not win over the same include for %q", pattern, namespace)
			}
		}

		// An escaped literal matches exactly itself.
		if strings.Contains(namespace, "$") {
			return
		}
		if lits := parseGlob(Escape(namespace)).lits; !slices.Equal(lits, []string{namespace}) {
			t.Fatalf("Escape(%q) = %q parses to %q", namespace, Escape(namespace), lits)
		}
		lit, err := NewMatcher([]string{Escape(namespace)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !lit.Match(namespace) {
			t.Fatalf("Escape(%q) = %q does not match itself", namespace, Escape(namespace))
		}
		for _, s := range []string{pattern, other} {
			if lit.Match(s) != (s == namespace) {
				t.Fatalf("Escape(%q) = %q: Match(%q) = %v", namespace, Escape(namespace), s, lit.Match(s))
			}
		}
	})
}

func FuzzRenamer(f *testing.F) {
	seedPatterns(f)
	f.Fuzz(func(t *testing.T, from, to, namespace string) {
		r, err := NewRenamer([]string{from}, []string{to})
		if err == nil {
			got := r.Rename(namespace)
			if utf8.ValidString(from) && utf8.ValidString(to) && utf8.ValidString(namespace) {
				want, ok := namespace, false
				if strings.Contains(from, "$") {
					want, ok = refPlaceholders(from, to, namespace)
				} else {
					re, _ := refGlob(from)
					if m := regexp.MustCompile(re).FindStringSubmatch(namespace); m != nil {
						want, ok = refGlobTarget(to, m[1:]), true
					}
				}
				if !ok {
					want = namespace
				}
				if got != want {
					t.Fatalf("rename %q to %q: Rename(%q) = %q, regexp says %q", from, to, namespace, got, want)
				}
			}
		} else if !strings.Contains(from, "$") && !strings.Contains(to, "$") {
			// Star form fails only on a wildcard count mismatch.
			_, a := refGlob(from)
			_, b := refGlob(to)
			if a == b {
				t.Fatalf("NewRenamer(%q, %q): %v", from, to, err)
			}
		}

		// Renaming a pattern onto itself changes nothing.
		if id, err := NewRenamer([]string{from}, []string{from}); err == nil {
			if got := id.Rename(namespace); got != namespace {
				t.Fatalf("rename %q onto itself: Rename(%q) = %q", from, namespace, got)
			}
		} else if !strings.Contains(from, "$") {
			t.Fatalf("NewRenamer(%q, itself): %v", from, err)
		}

		// An escaped literal pair renames exactly that namespace.
		if strings.Contains(namespace, "$") || strings.Contains(to, "$") {
			return
		}
		lit, err := NewRenamer([]string{Escape(namespace)}, []string{Escape(to)})
		if err != nil {
			t.Fatal(err)
		}
		if got := lit.Rename(namespace); got != to {
			t.Fatalf("literal rename %q to %q: Rename(%q) = %q", namespace, to, namespace, got)
		}
		if from != namespace {
			if got := lit.Rename(from); got != from {
				t.Fatalf("literal rename %q to %q: Rename(%q) = %q, want it unchanged", namespace, to, from, got)
			}
		}
	})
}
