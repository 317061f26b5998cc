package main

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// userinfo matches the credentials part of any URL in a text: scheme://user:password@.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s:]*):([^@\s]*)@`)

var (
	secretsMu sync.Mutex
	secrets   []string // values known to be secret (keys, passwords), never to be printed
)

// registerSecret records a value that must never appear in output.
func registerSecret(s string) {
	if len(s) < 4 {
		return // too short to redact without mangling ordinary text
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	add := func(v string) {
		if !slices.Contains(secrets, v) { // daemons register the same values every run
			secrets = append(secrets, v)
		}
	}
	add(s)
	if dec, err := url.QueryUnescape(s); err == nil && dec != s {
		add(dec)
	}
}

// redactSecrets replaces passwords in URLs and every registered secret with ***.
func redactSecrets(s string) string {
	s = userinfo.ReplaceAllString(s, "${1}${2}:***@")
	secretsMu.Lock()
	defer secretsMu.Unlock()
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

// redactURI returns a MongoDB URI fit for messages: mongodb://user:***@host/…
func redactURI(uri string) string { return redactSecrets(uri) }
