package ns

import (
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		yes, no          []string // namespaces selected and not selected
	}{
		{
			name: "no patterns selects everything",
			yes:  []string{"a.b", "", ".", "db.system.buckets.x", "x"},
		},
		{
			name:    "db.*",
			include: []string{"db.*"},
			yes:     []string{"db.c", "db.c.d", "db.", "db.system.js", "db.*"},
			no:      []string{"db", "dbx.c", "xdb.c", "DB.c", "other.db.c"},
		},
		{
			name:    "*.coll",
			include: []string{"*.coll"},
			yes:     []string{"a.coll", "a.b.coll", ".coll", "db.sub.coll"},
			no:      []string{"a.coll2", "a.subcoll", "coll", "a.coll.x"},
		},
		{
			name:    "star matches the empty run and dots",
			include: []string{"*"},
			yes:     []string{"", "a", "a.b.c", "..."},
		},
		{
			name:    "several stars",
			include: []string{"a*b*c"},
			yes:     []string{"abc", "a.b.c", "axxbyyc", "abbc", "abcbc", "acbc"},
			no:      []string{"ab", "acb", "bac", "abcx", "xabc"},
		},
		{
			name:    "adjacent stars",
			include: []string{"a**"},
			yes:     []string{"a", "a.b"},
			no:      []string{"ba"},
		},
		{
			name:    "literal namespace matches whole only",
			include: []string{"shop.orders"},
			yes:     []string{"shop.orders"},
			no:      []string{"shop.orders2", "shop.order", "xshop.orders", "shop.orders.archive"},
		},
		{
			name:    "dots in collection names",
			include: []string{"db.system.buckets.*"},
			yes:     []string{"db.system.buckets.weather", "db.system.buckets.a.b"},
			no:      []string{"db.system.bucketsX", "db.weather"},
		},
		{
			name:    "escaped star is literal",
			include: []string{`db.a\*`},
			yes:     []string{"db.a*"},
			no:      []string{"db.a", "db.ab", `db.a\*`},
		},
		{
			name:    "escaped star then wildcard",
			include: []string{`db.\**`},
			yes:     []string{"db.*", "db.*x", "db.**"},
			no:      []string{"db.x*", "db."},
		},
		{
			name:    "escaped backslash",
			include: []string{`db.a\\b`},
			yes:     []string{`db.a\b`},
			no:      []string{`db.a\\b`, "db.ab"},
		},
		{
			name:    "escaped backslash then wildcard (mongo-tools reads this as a literal \\*)",
			include: []string{`db.a\\*`},
			yes:     []string{`db.a\`, `db.a\b`, `db.a\*`},
			no:      []string{"db.a", "db.ab"},
		},
		{
			name:    "other backslashes vanish",
			include: []string{`d\b.\c\oll\`},
			yes:     []string{"db.coll"},
			no:      []string{`d\b.\c\oll\`, `db.coll\`},
		},
		{
			name:    "regexp metacharacters are literal",
			include: []string{"a.b+c", "x.(y)|z", "p.[q]?", "r.^s", "t.u{2}"},
			yes:     []string{"a.b+c", "x.(y)|z", "p.[q]?", "r.^s", "t.u{2}"},
			no:      []string{"aXb+c", "a.bbc", "x.y", "p.q", "t.uu"},
		},
		{
			name:    "non-ASCII and control bytes",
			include: []string{"dé.cöll*", "n.a\nb"},
			yes:     []string{"dé.cöll", "dé.cöllé", "n.a\nb"},
			no:      []string{"de.coll", "n.ab"},
		},
		{
			name:    "several includes are OR-ed",
			include: []string{"a.*", "b.x"},
			yes:     []string{"a.y", "b.x"},
			no:      []string{"b.y", "c.x"},
		},
		{
			name:    "exclude wins",
			include: []string{"shop.*"},
			exclude: []string{"shop.tmp*", "*.system.profile"},
			yes:     []string{"shop.orders", "shop.tm"},
			no:      []string{"shop.tmp", "shop.tmp_1", "shop.system.profile", "other.orders"},
		},
		{
			name:    "exclude alone",
			exclude: []string{"*.c"},
			yes:     []string{"a.b", "a.cc"},
			no:      []string{"a.c", "a.b.c"},
		},
		{
			// --excludeCollectionsWithPrefix P ≡ exclude *.P*
			name:    "exclude collections with prefix",
			exclude: []string{"*.tmp_*"},
			yes:     []string{"db.orders", "tmp_.orders"},
			no:      []string{"db.tmp_", "db.tmp_x", "a.b.tmp_x"},
		},
		{
			name:    "empty pattern matches only the empty namespace",
			include: []string{""},
			yes:     []string{""},
			no:      []string{"a", "."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.include, tt.exclude)
			if err != nil {
				t.Fatalf("NewMatcher(%q, %q): %v", tt.include, tt.exclude, err)
			}
			for _, ns := range tt.yes {
				if got := m.Match(ns); !got {
					t.Errorf("Match(%q) = false, want true", ns)
				}
			}
			for _, ns := range tt.no {
				if got := m.Match(ns); got {
					t.Errorf("Match(%q) = true, want false", ns)
				}
			}
		})
	}
}

func TestNilMatcherAndRenamer(t *testing.T) {
	var m *Matcher
	if !m.Match("a.b") {
		t.Errorf("nil Matcher: Match = false, want true")
	}
	var r *Renamer
	if got := r.Rename("a.b"); got != "a.b" {
		t.Errorf("nil Renamer: Rename = %q, want %q", got, "a.b")
	}
}

func TestNewMatcherErrors(t *testing.T) {
	tests := []struct {
		include, exclude []string
		want             string
	}{
		{[]string{"a.$b"}, nil, `ns: include pattern "a.$b": '$' is not allowed in include/exclude patterns`},
		{[]string{"ok.*"}, []string{`$x$.*`}, `ns: exclude pattern "$x$.*": '$' is not allowed in include/exclude patterns`},
		{[]string{"$"}, []string{"$"}, "ns: include pattern \"$\": '$' is not allowed in include/exclude patterns\n" +
			"ns: exclude pattern \"$\": '$' is not allowed in include/exclude patterns"},
	}
	for _, tt := range tests {
		m, err := NewMatcher(tt.include, tt.exclude)
		if err == nil || err.Error() != tt.want || m != nil {
			t.Errorf("NewMatcher(%q, %q) = %v, %v; want nil, %q", tt.include, tt.exclude, m, err, tt.want)
		}
	}
}

func TestRenamer(t *testing.T) {
	type rename struct{ in, want string }
	tests := []struct {
		name     string
		from, to []string
		cases    []rename
	}{
		{
			name:  "no pairs",
			cases: []rename{{"a.b", "a.b"}},
		},
		{
			name: "placeholders: copy a database",
			from: []string{"acme.$x$"}, to: []string{"acme_copy.$x$"},
			cases: []rename{
				{"acme.users", "acme_copy.users"},
				{"acme.a.b", "acme_copy.a.b"},
				{"acme.", "acme_copy."},
				{"acmex.users", "acmex.users"},
				{"other.acme.users", "other.acme.users"},
			},
		},
		{
			name: "placeholders: swap, earlier ones shortest",
			from: []string{"$db$.$coll$"}, to: []string{"$coll$.$db$"},
			cases: []rename{{"a.b", "b.a"}, {"a.b.c", "b.c.a"}, {"nodot", "nodot"}},
		},
		{
			name: "placeholders: used twice or not at all in the target",
			from: []string{"$db$.$coll$", "x.$c$"}, to: []string{"$db$.$db$_$db$", "y.fixed"},
			cases: []rename{{"a.b", "a.a_a"}, {"x.whatever", "y.fixed"}},
		},
		{
			name: "placeholders: star and backslash are ordinary characters",
			from: []string{`a.*\$x$`}, to: []string{`b.*\$x$`},
			cases: []rename{{`a.*\c`, `b.*\c`}, {"a.zzc", "a.zzc"}, {`a.z\c`, `a.z\c`}},
		},
		{
			name: "placeholders: empty name",
			from: []string{"a.$$"}, to: []string{"b.$$"},
			cases: []rename{{"a.c", "b.c"}},
		},
		{
			name: "placeholders: regexp-looking target text is literal",
			from: []string{"a.$x$"}, to: []string{`b.\1+(.*)$x$`},
			cases: []rename{{"a.c", `b.\1+(.*)c`}},
		},
		{
			name: "stars: database rename",
			from: []string{"a.*"}, to: []string{"b.*"},
			cases: []rename{{"a.c", "b.c"}, {"a.c.d", "b.c.d"}, {"ab.c", "ab.c"}},
		},
		{
			name: "stars: earlier stars as short as possible",
			from: []string{"*.*", "*x*"}, to: []string{"*_old.*", "*-*"},
			cases: []rename{
				{"axbxc", "a-bxc"},
				{"xx", "-x"},
				{"db.c.d", "db_old.c.d"}, // no x: the first pair
				{"x.y", "-.y"},           // both match: the last pair wins
			},
		},
		{
			name: "stars: reordered literal text around them",
			from: []string{"pre_*.suf_*"}, to: []string{"*.*_new"},
			cases: []rename{{"pre_a.suf_b", "a.b_new"}, {"pre_a.suf_.suf_b", "a..suf_b_new"}, {"pre_a.b", "pre_a.b"}},
		},
		{
			name: "stars: escapes on both sides",
			from: []string{`a.\*\\*`}, to: []string{`b.\\\**`},
			cases: []rename{{`a.*\x`, `b.\*x`}, {`a.*\`, `b.\*`}, {`a.x\y`, `a.x\y`}},
		},
		{
			name: "stars: none",
			from: []string{"a.b"}, to: []string{"c.d"},
			cases: []rename{{"a.b", "c.d"}, {"a.bb", "a.bb"}},
		},
		{
			name: "the last matching pair wins",
			from: []string{"a.*", "a.b"}, to: []string{"x.*", "y.b"},
			cases: []rename{{"a.b", "y.b"}, {"a.c", "x.c"}},
		},
		{
			name: "the last matching pair wins, reversed",
			from: []string{"a.b", "a.*"}, to: []string{"y.b", "x.*"},
			cases: []rename{{"a.b", "x.b"}, {"a.c", "x.c"}},
		},
		{
			name: "mixed forms",
			from: []string{"a.*", "$d$.keep"}, to: []string{"b.*", "$d$_2.keep"},
			cases: []rename{{"a.keep", "a_2.keep"}, {"a.x", "b.x"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRenamer(tt.from, tt.to)
			if err != nil {
				t.Fatalf("NewRenamer(%q, %q): %v", tt.from, tt.to, err)
			}
			for _, c := range tt.cases {
				if got := r.Rename(c.in); got != c.want {
					t.Errorf("Rename(%q) = %q, want %q", c.in, got, c.want)
				}
			}
		})
	}
}

func TestNewRenamerErrors(t *testing.T) {
	tests := []struct {
		from, to []string
		want     string
	}{
		{[]string{"a.*"}, nil, "ns: 1 rename sources but 0 targets: they go in pairs"},
		{[]string{"a.*"}, []string{"b"}, `ns: rename "a.*" to "b": 1 wildcards in the source but 0 in the target`},
		{[]string{`a.\*`}, []string{"b.*"}, `ns: rename "a.\\*" to "b.*": 0 wildcards in the source but 1 in the target`},
		{[]string{"a.*"}, []string{"b.$1$"}, `ns: rename "a.*" to "b.$1$": '$' in the target needs $name$ placeholders in the source`},
		{[]string{"a.$x"}, []string{"b.$x$"}, `ns: rename "a.$x" to "b.$x$": odd number of '$' in the source: placeholders are written $name$`},
		{[]string{"a.$x$"}, []string{"b.$x"}, `ns: rename "a.$x$" to "b.$x": odd number of '$' in the target: placeholders are written $name$`},
		{[]string{"$x$.$x$"}, []string{"$x$"}, `ns: rename "$x$.$x$" to "$x$": placeholder $x$ used more than once in the source`},
		{[]string{"$x$.c"}, []string{"$y$.c"}, `ns: rename "$x$.c" to "$y$.c": placeholder $y$ in the target is not in the source`},
		{[]string{"ok.*", "$a$"}, []string{"ok2.*", "$b$"}, `ns: rename "$a$" to "$b$": placeholder $b$ in the target is not in the source`},
	}
	for _, tt := range tests {
		r, err := NewRenamer(tt.from, tt.to)
		if err == nil || err.Error() != tt.want || r != nil {
			t.Errorf("NewRenamer(%q, %q) = %v, %v\nwant nil, %s", tt.from, tt.to, r, err, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct{ in, db, coll string }{
		{"db.coll", "db", "coll"},
		{"db.system.buckets.x", "db", "system.buckets.x"},
		{"db.", "db", ""},
		{".oplog", "", "oplog"},
		{"nodot", "nodot", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		db, coll := Split(tt.in)
		if db != tt.db || coll != tt.coll {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, db, coll, tt.db, tt.coll)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"db.coll", "db.coll"},
		{"a*b", `a\*b`},
		{`a\b`, `a\\b`},
		{`\*`, `\\\*`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		m, err := NewMatcher([]string{Escape(tt.in)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Match(tt.in) || m.Match(tt.in+"x") || (tt.in != "" && m.Match(tt.in[1:])) {
			t.Errorf("pattern Escape(%q) does not match exactly %q", tt.in, tt.in)
		}
	}
	// Escape(db) + ".*" is how --db becomes a pattern.
	m, err := NewMatcher([]string{Escape(`we*rd\`) + ".*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{`we*rd\.c`: true, `weXrd\.c`: false, "we*rd.c": false} {
		if got := m.Match(ns); got != want {
			t.Errorf("Match(%q) = %v, want %v", ns, got, want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	m, err := NewMatcher([]string{"shop.*", "*.orders_*_2026*"}, []string{"*.tmp*"})
	if err != nil {
		b.Fatal(err)
	}
	ns := "archive." + strings.Repeat("orders_x_", 20) + "2025"
	b.SetBytes(int64(len(ns)))
	b.ReportAllocs()
	for b.Loop() {
		m.Match(ns)
	}
}
