package connstr

import (
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Redact replaces the password of every URI in text with ***: a connection string on its
// own, or one inside a longer message ("connect to mongodb://u:***@h: refused"). Inside a
// text a URI ends at whitespace, a double quote (Go quotes URLs in its errors), '<', '>'
// or a backquote.
func Redact(text string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "://")
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		start := schemeStart(text, i)
		end := i + 3 + strings.IndexFunc(text[i+3:], endsURI)
		if end < i+3 {
			end = len(text)
		}
		b.WriteString(text[:start])
		if u, ok := Split(text[start:end]); ok {
			b.WriteString(u.Redacted())
		} else {
			b.WriteString(text[start:end])
		}
		text = text[end:]
	}
}

// schemeStart finds where the scheme ending at sep (the index of "://") begins: after the
// last character before it that cannot be part of a scheme, and at a letter.
func schemeStart(text string, sep int) int {
	start := sep
	for start > 0 && isSchemeChar(text[start-1]) {
		start--
	}
	for start < sep && !isLetter(text[start]) {
		start++
	}
	return start
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isSchemeChar(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

func endsURI(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '<', '>', '`':
		return true
	}
	return false
}

// Redactor hides registered secrets, wherever they appear, and the passwords of URIs. It
// is safe for concurrent use. The zero value hides URI passwords only.
type Redactor struct {
	mu      sync.Mutex
	secrets []string
}

// minSecret is the shortest value registered: a shorter one would blank out ordinary
// words and numbers all over the output.
const minSecret = 4

// Register marks s as secret, with its percent-decoded forms (a password written
// percent-encoded in a URI may show decoded elsewhere, and the other way round).
func (r *Redactor) Register(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	forms := []string{s}
	if d, err := url.PathUnescape(s); err == nil {
		forms = append(forms, d)
	}
	if d, err := url.QueryUnescape(s); err == nil {
		forms = append(forms, d)
	}
	for _, f := range forms {
		// A daemon registers the same values on every run.
		if len(f) >= minSecret && !slices.Contains(r.secrets, f) {
			r.secrets = append(r.secrets, f)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

// RegisterURI marks the password of a connection string as secret, so that it is hidden
// even where it appears outside the URI (a driver's message quoting it, say).
func (r *Redactor) RegisterURI(s string) {
	if u, ok := Split(s); ok && u.Password != "" {
		r.Register(u.Password)
	}
}

// Redact hides URI passwords and every registered secret in text.
func (r *Redactor) Redact(text string) string {
	text = Redact(text)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		text = strings.ReplaceAll(text, s, "***")
	}
	return text
}
