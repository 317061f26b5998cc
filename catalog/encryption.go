package catalog

import "fmt"

// Encryption names how a stored object's bytes are encrypted, a layer applied after
// compression. The name is what manifests record; Ext is what keys end with, after the
// compression's extension ("backup-….dump.zst.age"). Readers detect it from the stream's
// header, never from the name: the name only tells people and listings what to expect.
type Encryption string

// The encryptions mongostash writes and reads. Unencrypted is the empty name, so that a
// manifest written before encryption existed reads as unencrypted.
const (
	Unencrypted Encryption = ""
	// Age is age (age-encryption.org/v1): X25519 (or hybrid post-quantum) recipients,
	// ChaCha20-Poly1305 in authenticated 64 KiB chunks.
	Age Encryption = "age"
)

// encryptions lists every known encryption, those with a key extension first.
var encryptions = []Encryption{Age, Unencrypted}

// ParseEncryption accepts "age" and, for no encryption, "" and "none".
func ParseEncryption(s string) (Encryption, error) {
	switch s {
	case "age":
		return Age, nil
	case "", "none":
		return Unencrypted, nil
	}
	return "", fmt.Errorf("catalog: unknown encryption %q (want age or none)", s)
}

// Valid reports whether e is a known encryption.
func (e Encryption) Valid() bool { return e == Age || e == Unencrypted }

// Ext is what the key of an object with this encryption ends with, after the compression's
// extension.
func (e Encryption) Ext() string {
	if e == Age {
		return ".age"
	}
	return ""
}

// String is the name, "none" for no encryption, for messages and listings.
func (e Encryption) String() string {
	if e == Unencrypted {
		return "none"
	}
	return string(e)
}
