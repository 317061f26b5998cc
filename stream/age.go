package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
)

// ageMagic starts every binary age file (age-encryption.org/v1): the format's version line.
var ageMagic = []byte("age-encryption.org/v1\n")

// Errors of encrypted streams. None of them, nor anything this package returns, contains an
// identity.
var (
	// ErrNoIdentity: the stream is encrypted and no identity was given to decrypt it.
	ErrNoIdentity = errors.New("stream: the stream is encrypted with age and no age identity was given")
	// ErrWrongIdentity: none of the identities given can decrypt the stream.
	ErrWrongIdentity = errors.New("stream: none of the age identities given can decrypt the stream: it is encrypted to other recipients, or its header was damaged")
	// ErrDamaged: decryption failed because the encrypted bytes were changed, cut short
	// or extended; age authenticates every 64 KiB chunk and the end of the stream.
	ErrDamaged = errors.New("stream: the age-encrypted stream is damaged: it was cut short or changed after it was written")
)

// Recipients are the age public keys a stream is encrypted to; any one of their private
// keys (identities) decrypts it.
type Recipients struct {
	list []age.Recipient
	keys []string
}

// ParseRecipients reads age recipients in age's recipients-file format: one public key
// ("age1…", or "age1pq1…" for post-quantum hybrid keys) per line; blank lines and lines
// starting with "#" are ignored. Duplicates are dropped. It fails when there is none, and
// when the keys cannot be used together (age refuses to mix hybrid and classic keys).
func ParseRecipients(r io.Reader) (*Recipients, error) {
	list, err := age.ParseRecipients(r)
	if err != nil {
		// age's errors never repeat the line, which could be a private key pasted by mistake.
		return nil, fmt.Errorf("stream: age recipients: %w", err)
	}
	rs := &Recipients{}
	for _, rec := range list {
		key := fmt.Sprint(rec) // age's recipients print as their public key
		if slices.Contains(rs.keys, key) {
			continue
		}
		rs.list = append(rs.list, rec)
		rs.keys = append(rs.keys, key)
	}
	// Encrypting nothing checks now, not after an hour of dumping, that the keys can be
	// used together.
	if w, err := age.Encrypt(io.Discard, rs.list...); err != nil {
		return nil, fmt.Errorf("stream: age recipients: %w", err)
	} else if err := w.Close(); err != nil {
		return nil, fmt.Errorf("stream: age recipients: %w", err)
	}
	return rs, nil
}

// Keys returns the recipients' public keys, for manifests and logs: public keys are not
// secret.
func (rs *Recipients) Keys() []string {
	if rs == nil { // no encryption: no recipients
		return nil
	}
	return slices.Clone(rs.keys)
}

// Encrypt wraps w so that what is written to the result is encrypted to rs with age, in
// 64 KiB authenticated chunks. Closing the result writes the last chunk but does not close
// w.
func Encrypt(w io.Writer, rs *Recipients) (io.WriteCloser, error) {
	if rs == nil || len(rs.list) == 0 {
		return nil, errors.New("stream: encrypt: no age recipients")
	}
	ew, err := age.Encrypt(w, rs.list...)
	if err != nil {
		return nil, fmt.Errorf("stream: encrypt with age: %w", err)
	}
	return ew, nil
}

// Identities are age private keys that can decrypt streams. They print as a count only,
// so that logging them by mistake shows no key.
type Identities struct {
	list []age.Identity
}

// ParseIdentities reads age identities in age's identity-file format (what age-keygen
// writes): one "AGE-SECRET-KEY-1…" (or "AGE-SECRET-KEY-PQ-1…") per line; blank lines and
// lines starting with "#" are ignored. Its errors give line numbers, never the lines.
func ParseIdentities(r io.Reader) (*Identities, error) {
	text, err := io.ReadAll(io.LimitReader(r, maxIdentityFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("stream: age identities: %w", err)
	case len(text) > maxIdentityFile:
		return nil, fmt.Errorf("stream: age identities: more than %d bytes: not an identity file", maxIdentityFile)
	case passphraseProtected(text):
		return nil, ErrPassphraseIdentity
	}
	list, err := age.ParseIdentities(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("stream: age identities: %w", err)
	}
	return &Identities{list: list}, nil
}

// maxIdentityFile bounds what ParseIdentities reads: identity files are a few lines.
const maxIdentityFile = 1 << 20

// ErrPassphraseIdentity: the identity given is itself encrypted with a passphrase (what
// `age -p` writes, armored or not), which needs a person at a prompt to open.
var ErrPassphraseIdentity = errors.New("stream: the age identity is protected by a passphrase (an age-encrypted file, as `age -p` writes): it cannot be used without a prompt")

// passphraseProtected reports whether text holds an age-encrypted file rather than
// identities: its header line, or the armor that wraps it.
func passphraseProtected(text []byte) bool {
	for _, line := range bytes.Split(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if bytes.HasPrefix(line, []byte("age-encryption.org/")) || bytes.Equal(line, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
			return true
		}
	}
	return false
}

// String says how many identities there are, never what they are.
func (ids *Identities) String() string { return fmt.Sprintf("%d age identities", len(ids.list)) }

// GoString is String, so that %#v does not print keys either.
func (ids *Identities) GoString() string { return ids.String() }

// decrypt reads the age header from r and returns a reader of the plaintext. A missing or
// wrong identity and a damaged header fail here, before any plaintext is returned; damage
// later in the stream fails the Read that reaches it.
func decrypt(r io.Reader, ids *Identities) (io.Reader, error) {
	if ids == nil || len(ids.list) == 0 {
		return nil, ErrNoIdentity
	}
	src := &sourceErrors{r: r}
	plain, err := age.Decrypt(src, ids.list...)
	var noMatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &noMatch):
		return nil, fmt.Errorf("%w (tried %s)", ErrWrongIdentity, ids)
	case err != nil && src.err != nil:
		return nil, src.err // the source failed, not the stream
	case err != nil:
		return nil, fmt.Errorf("%w: header: %v", ErrDamaged, err)
	}
	return &decryptReader{r: plain, src: src}, nil
}

// sourceErrors remembers the last error of the stream under the decryption, so that a
// failing download is reported as itself and not as a damaged stream.
type sourceErrors struct {
	r   io.Reader
	err error // last error other than io.EOF
}

func (s *sourceErrors) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// decryptReader marks the errors of age's reader as ErrDamaged, except those of the
// source.
type decryptReader struct {
	r   io.Reader
	src *sourceErrors
}

func (d *decryptReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case d.src.err != nil:
		err = d.src.err // the source failed, not the stream
	default:
		// age returns io.ErrUnexpectedEOF for a stream cut at a chunk boundary; keep it
		// visible to errors.Is.
		err = fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return n, err
}
