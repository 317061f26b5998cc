package connstr

import (
	"slices"
	"strings"
	"testing"
)

// TestSplit: every form the user info of a connection string can take, and where the
// hosts end.
func TestSplit(t *testing.T) {
	cases := []struct {
		name, in string
		want     URI
		password string // decoded
		hosts    []string
		redacted string
		noPass   string // WithoutPassword
	}{
		{
			name: "user and password", in: "mongodb://backup:s3cret@db1:27017/admin?authSource=admin",
			want:     URI{Scheme: "mongodb", User: "backup", Password: "s3cret", HasUserinfo: true, HasPassword: true, Hosts: "db1:27017", Rest: "/admin?authSource=admin"},
			password: "s3cret", hosts: []string{"db1:27017"},
			redacted: "mongodb://backup:***@db1:27017/admin?authSource=admin",
			noPass:   "mongodb://backup@db1:27017/admin?authSource=admin",
		},
		{
			name: "unescaped @ in the password", in: "mongodb://u:Sup3r@S3cret@host",
			want:     URI{Scheme: "mongodb", User: "u", Password: "Sup3r@S3cret", HasUserinfo: true, HasPassword: true, Hosts: "host"},
			password: "Sup3r@S3cret", hosts: []string{"host"},
			redacted: "mongodb://u:***@host", noPass: "mongodb://u@host",
		},
		{
			name: "percent-encoded password", in: "mongodb://u:p%40ss%3Aw%2Fd@host/",
			want:     URI{Scheme: "mongodb", User: "u", Password: "p%40ss%3Aw%2Fd", HasUserinfo: true, HasPassword: true, Hosts: "host", Rest: "/"},
			password: "p@ss:w/d", hosts: []string{"host"},
			redacted: "mongodb://u:***@host/", noPass: "mongodb://u@host/",
		},
		{
			name: "plus in the password stays a plus", in: "mongodb://u:a+b@host",
			want:     URI{Scheme: "mongodb", User: "u", Password: "a+b", HasUserinfo: true, HasPassword: true, Hosts: "host"},
			password: "a+b", hosts: []string{"host"},
			redacted: "mongodb://u:***@host", noPass: "mongodb://u@host",
		},
		{
			name: "unescaped colon, slash and question mark in the password", in: "mongodb://u:a:b/c?d@host/db",
			want:     URI{Scheme: "mongodb", User: "u", Password: "a:b/c?d", HasUserinfo: true, HasPassword: true, Hosts: "host", Rest: "/db"},
			password: "a:b/c?d", hosts: []string{"host"},
			redacted: "mongodb://u:***@host/db", noPass: "mongodb://u@host/db",
		},
		{
			name: "escaped @ in the user name", in: "mongodb://me%40corp.example:pw@host",
			want:     URI{Scheme: "mongodb", User: "me%40corp.example", Password: "pw", HasUserinfo: true, HasPassword: true, Hosts: "host"},
			password: "pw", hosts: []string{"host"},
			redacted: "mongodb://me%40corp.example:***@host", noPass: "mongodb://me%40corp.example@host",
		},
		{
			name: "user without password", in: "mongodb://x509user@host/?authMechanism=MONGODB-X509",
			want:     URI{Scheme: "mongodb", User: "x509user", HasUserinfo: true, Hosts: "host", Rest: "/?authMechanism=MONGODB-X509"},
			hosts:    []string{"host"},
			redacted: "mongodb://x509user@host/?authMechanism=MONGODB-X509", noPass: "mongodb://x509user@host/?authMechanism=MONGODB-X509",
		},
		{
			name: "empty password", in: "mongodb://u:@host",
			want:     URI{Scheme: "mongodb", User: "u", HasUserinfo: true, HasPassword: true, Hosts: "host"},
			hosts:    []string{"host"},
			redacted: "mongodb://u:***@host", noPass: "mongodb://u@host",
		},
		{
			name: "several hosts", in: "mongodb://u:pw@a.example:27017,b.example:27018,c.example/db?replicaSet=rs0",
			want:     URI{Scheme: "mongodb", User: "u", Password: "pw", HasUserinfo: true, HasPassword: true, Hosts: "a.example:27017,b.example:27018,c.example", Rest: "/db?replicaSet=rs0"},
			password: "pw", hosts: []string{"a.example:27017", "b.example:27018", "c.example"},
			redacted: "mongodb://u:***@a.example:27017,b.example:27018,c.example/db?replicaSet=rs0",
			noPass:   "mongodb://u@a.example:27017,b.example:27018,c.example/db?replicaSet=rs0",
		},
		{
			name: "mongodb+srv", in: "mongodb+srv://u:pw@cluster0.abcde.mongodb.net/?retryWrites=true",
			want:     URI{Scheme: "mongodb+srv", User: "u", Password: "pw", HasUserinfo: true, HasPassword: true, Hosts: "cluster0.abcde.mongodb.net", Rest: "/?retryWrites=true"},
			password: "pw", hosts: []string{"cluster0.abcde.mongodb.net"},
			redacted: "mongodb+srv://u:***@cluster0.abcde.mongodb.net/?retryWrites=true",
			noPass:   "mongodb+srv://u@cluster0.abcde.mongodb.net/?retryWrites=true",
		},
		{
			name: "IPv6 hosts", in: "mongodb://u:pw@[::1]:27017,[fe80::1%25eth0]:27018/db",
			want:     URI{Scheme: "mongodb", User: "u", Password: "pw", HasUserinfo: true, HasPassword: true, Hosts: "[::1]:27017,[fe80::1%25eth0]:27018", Rest: "/db"},
			password: "pw", hosts: []string{"[::1]:27017", "[fe80::1%25eth0]:27018"},
			redacted: "mongodb://u:***@[::1]:27017,[fe80::1%25eth0]:27018/db",
			noPass:   "mongodb://u@[::1]:27017,[fe80::1%25eth0]:27018/db",
		},
		{
			name: "no user info", in: "mongodb://127.0.0.1:27017/?directConnection=true",
			want:     URI{Scheme: "mongodb", Hosts: "127.0.0.1:27017", Rest: "/?directConnection=true"},
			hosts:    []string{"127.0.0.1:27017"},
			redacted: "mongodb://127.0.0.1:27017/?directConnection=true", noPass: "mongodb://127.0.0.1:27017/?directConnection=true",
		},
		{
			name: "no hosts", in: "mongodb://",
			want:     URI{Scheme: "mongodb"},
			redacted: "mongodb://", noPass: "mongodb://",
		},
		{
			name: "http with basic auth (Pushgateway)", in: "https://pusher:pushPassw0rd@pushgateway.example:9091/metrics",
			want:     URI{Scheme: "https", User: "pusher", Password: "pushPassw0rd", HasUserinfo: true, HasPassword: true, Hosts: "pushgateway.example:9091", Rest: "/metrics"},
			password: "pushPassw0rd", hosts: []string{"pushgateway.example:9091"},
			redacted: "https://pusher:***@pushgateway.example:9091/metrics",
			noPass:   "https://pusher@pushgateway.example:9091/metrics",
		},
		{
			// The price of taking the last '@': an '@' in the query makes the hosts part of
			// the user info. Redaction hides too much, never too little.
			name: "an @ in the query hides more", in: "mongodb://u:pw@host/db?appName=a@b",
			want:     URI{Scheme: "mongodb", User: "u", Password: "pw@host/db?appName=a", HasUserinfo: true, HasPassword: true, Hosts: "b"},
			password: "pw@host/db?appName=a", hosts: []string{"b"},
			redacted: "mongodb://u:***@b", noPass: "mongodb://u@b",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Split(tc.in)
			if !ok {
				t.Fatalf("Split(%q): not a URI", tc.in)
			}
			if got != tc.want {
				t.Errorf("Split(%q)\ngot  %+v\nwant %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("String() = %q, want the original %q", s, tc.in)
			}
			if p := got.DecodedPassword(); p != tc.password {
				t.Errorf("DecodedPassword() = %q, want %q", p, tc.password)
			}
			if h := got.HostList(); !slices.Equal(h, tc.hosts) {
				t.Errorf("HostList() = %q, want %q", h, tc.hosts)
			}
			if h := Hosts(tc.in); h != strings.Join(tc.hosts, ",") {
				t.Errorf("Hosts() = %q, want %q", h, strings.Join(tc.hosts, ","))
			}
			if r := got.Redacted(); r != tc.redacted {
				t.Errorf("Redacted() = %q, want %q", r, tc.redacted)
			}
			if r := Redact(tc.in); r != tc.redacted {
				t.Errorf("Redact() = %q, want %q", r, tc.redacted)
			}
			if n := got.WithoutPassword(); n != tc.noPass {
				t.Errorf("WithoutPassword() = %q, want %q", n, tc.noPass)
			}
		})
	}
}

// TestSplitNotAURI: text without a scheme is not split (and Hosts says nothing of it).
func TestSplitNotAURI(t *testing.T) {
	for _, s := range []string{"", "host:27017", "u:p@host", "://u:p@host", "1db://u:p@h", "mongo db://u:p@h"} {
		if u, ok := Split(s); ok {
			t.Errorf("Split(%q) = %+v, want not a URI", s, u)
		}
		if h := Hosts(s); h != "" {
			t.Errorf("Hosts(%q) = %q, want empty", s, h)
		}
	}
}

// TestRedactInText: URIs inside longer messages, as the driver, the SDKs and our own
// errors print them.
func TestRedactInText(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"in a sentence": {
			"connect to mongodb://u:Sup3r@S3cret@db:27017/admin failed: refused",
			"connect to mongodb://u:***@db:27017/admin failed: refused",
		},
		"quoted by Go": {
			`parse "mongodb://u:pw@host/?x=1": invalid port`,
			`parse "mongodb://u:***@host/?x=1": invalid port`,
		},
		"followed by a colon": {
			"MONGO_URL mongodb://u:pw@h1,h2: server selection timeout",
			"MONGO_URL mongodb://u:***@h1,h2: server selection timeout",
		},
		"two URIs": {
			"copy mongodb://a:pw1@h1/x to mongodb+srv://b:pw2@h2/y",
			"copy mongodb://a:***@h1/x to mongodb+srv://b:***@h2/y",
		},
		"in angle brackets": {
			"see <https://user:tok3n@example.com/path>",
			"see <https://user:***@example.com/path>",
		},
		"after an equals sign": {
			"uri=mongodb://u:pw@h",
			"uri=mongodb://u:***@h",
		},
		"Pushgateway error": {
			`Post "http://pusher:pushPassw0rd@127.0.0.1:9091/metrics/job/mongostash": dial tcp: refused`,
			`Post "http://pusher:***@127.0.0.1:9091/metrics/job/mongostash": dial tcp: refused`,
		},
		"no user info": {
			"connect to mongodb://127.0.0.1:1/: refused",
			"connect to mongodb://127.0.0.1:1/: refused",
		},
		"no URI": {
			"an e-mail me@example.com and a time 10:30",
			"an e-mail me@example.com and a time 10:30",
		},
		"at the end": {
			"trailing mongodb://",
			"trailing mongodb://",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q)\ngot  %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestRedactorSecrets: registered values are hidden wherever they appear — as written,
// percent-decoded and percent-encoded — together with URI passwords.
func TestRedactorSecrets(t *testing.T) {
	var r Redactor
	r.Register("AKIA-SECRET-ACCESS")
	r.RegisterURI("mongodb://u:p%40ss%20word@host")
	r.RegisterURI("mongodb://u:pa ss@host")
	r.Register("abc") // too short: would blank out ordinary text
	cases := map[string]struct{ in, want string }{
		"key in a message":        {"signature for AKIA-SECRET-ACCESS does not match", "signature for *** does not match"},
		"password decoded":        {"auth failed for password p@ss word", "auth failed for password ***"},
		"password as written":     {"echo p%40ss%20word", "echo ***"},
		"password with a space":   {"dial mongodb://u:pa ss@host: refused", "dial mongodb://u:***@host: refused"},
		"short values stay":       {"abc def", "abc def"},
		"URI password not listed": {"mongodb://x:other@h", "mongodb://x:***@h"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := r.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q)\ngot  %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestRedactorLongestFirst: a secret that contains another is replaced whole, so no tail
// of it shows.
func TestRedactorLongestFirst(t *testing.T) {
	var r Redactor
	r.Register("pass")
	r.Register("password-long")
	if got := r.Redact("x password-long y"); got != "x *** y" {
		t.Errorf("got %q", got)
	}
}

// FuzzSplit: whatever the input, a split URI puts itself back together, and redaction
// keeps the scheme and hosts and drops the password.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"mongodb://u:Sup3r@S3cret@host", "mongodb://u:p%40ss@h1,h2/db?x=1", "mongodb+srv://c.example/",
		"http://pusher:pw@127.0.0.1:9091", "mongodb://[::1]:27017", "mongodb://u:@h", "mongodb://u@h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := Split(s)
		if !ok {
			return
		}
		if got := u.String(); got != s {
			t.Fatalf("Split(%q).String() = %q", s, got)
		}
		red, ok := Split(u.Redacted())
		if !ok || red.Scheme != u.Scheme || red.Hosts != u.Hosts || red.User != u.User || red.HasPassword != u.HasPassword {
			t.Fatalf("Split(Redacted(%q)) = %+v, %v; want the same scheme, user and hosts as %+v", s, red, ok, u)
		}
		if u.HasPassword && red.Password != "***" {
			t.Fatalf("Redacted(%q) keeps the password %q", s, red.Password)
		}
	})
}
