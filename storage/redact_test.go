package storage

import (
	"errors"
	"fmt"
	"testing"
)

func TestRedactor(t *testing.T) {
	key := "c2VjcmV0LWtleQ=="
	conn := "AccountName=a;AccountKey=" + key
	r := NewRedactor(key, conn, "abc", "")
	cause := errors.New("refused")
	err := r.Redact(fmt.Errorf("connect with %q (key %s, id abc): %w", conn, key, cause))
	if got, want := err.Error(), `connect with "***" (key ***, id abc): refused`; got != want {
		t.Errorf("redacted %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the redacted error no longer unwraps to its cause")
	}
	if NewRedactor("", "ab") != nil || (*Redactor)(nil).Redact(cause) != cause || r.Redact(nil) != nil {
		t.Error("a redactor without secrets, or of no error, must change nothing")
	}
}
