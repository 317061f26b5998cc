// Package connstr takes connection strings apart — mongodb://, mongodb+srv:// and
// http(s):// URLs with credentials, such as a Pushgateway's — and hides the credentials in
// them. It is the one place that knows where a password sits in a URI; the CLI's
// redaction, its host listing and the mongo-tools runner all go through it.
//
// It never resolves, dials or validates a URI beyond what splitting needs: a URI the
// MongoDB driver would refuse (an unescaped '@' in the password, say) is still split the
// way that hides the most, because such a URI ends up in the driver's error message.
package connstr

import (
	"net/url"
	"strings"
)

// URI is a connection string cut into its parts, each exactly as written (still
// percent-encoded): Scheme://User:Password@Hosts Rest.
type URI struct {
	Scheme      string // "mongodb", "mongodb+srv", "http", …
	User        string // empty when there is no user info
	Password    string // empty when there is none, or it is empty ("u:@host")
	HasUserinfo bool   // an '@' separates user info from the hosts
	HasPassword bool   // the user info has a ':' (the password may still be empty)
	Hosts       string // "h1:27017,h2", "[::1]:27017", "cluster0.example.net"
	Rest        string // from the first '/', '?' or '#' after the hosts to the end
}

// Split cuts s into its parts; ok is false when s has no scheme:// at its start.
//
// The user info runs to the last '@' of s, not the first: a password pasted without
// escaping its '@' ("mongodb://u:Sup3r@S3cret@host") is then still one password, and its
// whole is what redaction hides. The catch is an '@' after the hosts (in the path or the
// query, which is rare): everything before it then counts as user info, so redaction hides
// more than the password, never less. The user ends at the first ':' of the user info.
func Split(s string) (URI, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !validScheme(scheme) {
		return URI{}, false
	}
	u := URI{Scheme: scheme}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		u.HasUserinfo = true
		userinfo := rest[:at]
		rest = rest[at+1:]
		u.User, u.Password, u.HasPassword = strings.Cut(userinfo, ":")
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	u.Hosts, u.Rest = rest[:end], rest[end:]
	return u, true
}

// validScheme says whether s is a URI scheme (RFC 3986: a letter, then letters, digits,
// '+', '-' or '.').
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// String puts the parts back together; Split then String gives back the original.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	if u.HasUserinfo {
		b.WriteString(u.User)
		if u.HasPassword {
			b.WriteByte(':')
			b.WriteString(u.Password)
		}
		b.WriteByte('@')
	}
	b.WriteString(u.Hosts)
	b.WriteString(u.Rest)
	return b.String()
}

// Redacted is the URI with its password, if it has one, replaced by ***.
func (u URI) Redacted() string {
	if u.HasPassword {
		u.Password = "***"
	}
	return u.String()
}

// WithoutPassword is the URI with the password and its ':' left out (scheme://user@hosts…),
// for programs that take the password another way.
func (u URI) WithoutPassword() string {
	u.Password, u.HasPassword = "", false
	return u.String()
}

// DecodedPassword is the password with its percent-escapes decoded, as the MongoDB driver
// decodes it ('+' stays '+'); a password that is not valid percent-encoding is returned as
// written.
func (u URI) DecodedPassword() string {
	if p, err := url.PathUnescape(u.Password); err == nil {
		return p
	}
	return u.Password
}

// HostList is the hosts one by one: "h1:27017", "[::1]:27018".
func (u URI) HostList() []string {
	if u.Hosts == "" {
		return nil
	}
	return strings.Split(u.Hosts, ",")
}

// Hosts names the servers of a connection string, without credentials, for messages:
// "h1:27017,h2:27017". A string that is not a URI gives "" (its text may be secret).
func Hosts(s string) string {
	u, ok := Split(s)
	if !ok {
		return ""
	}
	return u.Hosts
}
