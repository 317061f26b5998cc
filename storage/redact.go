package storage

import (
	"slices"
	"strings"
)

// Redactor takes a store's secrets (keys, tokens, connection strings) out of the errors
// it returns, which SDKs sometimes fill with the request they sent.
type Redactor struct{ r *strings.Replacer }

// NewRedactor replaces each of secrets with "***". The longest are replaced first (a
// connection string holds the key, which must not be replaced inside it first and leave
// the rest readable); strings shorter than 4 bytes are left, as they would mangle ordinary
// words. With no secret it returns nil, which redacts nothing.
func NewRedactor(secrets ...string) *Redactor {
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, s := range secrets {
		if len(s) >= 4 {
			pairs = append(pairs, s, "***")
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// Redact returns err printing with the secrets replaced; it still unwraps to err, so that
// errors.Is and errors.As work as before.
func (r *Redactor) Redact(err error) error {
	if err == nil || r == nil {
		return err
	}
	return &redactedError{err: err, r: r.r}
}

type redactedError struct {
	err error
	r   *strings.Replacer
}

func (e *redactedError) Error() string { return e.r.Replace(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }
