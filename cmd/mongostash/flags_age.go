package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/stream"
)

// AgeRecipientFlags say whom backups are encrypted to: age public keys, never a secret.
type AgeRecipientFlags struct {
	Recipients     []string `name:"age-recipient" env:"BACKUP_AGE_RECIPIENTS" sep:"none" placeholder:"AGE1…" help:"Encrypt the backup with age to this public key (age1…; repeatable; in the variable, separated by spaces or commas). Any one recipient's identity decrypts it."`
	RecipientsFile string   `name:"age-recipients-file" env:"BACKUP_AGE_RECIPIENTS_FILE" type:"path" placeholder:"PATH" help:"Encrypt to the recipients listed in this file (age's recipients-file format: one public key per line, # comments)."`
}

// recipients returns the recipients given, nil when none is.
func (f *AgeRecipientFlags) recipients() (*stream.Recipients, error) {
	var keys []string
	for _, v := range f.Recipients {
		found := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
		if v != "" && len(found) == 0 {
			// A template whose keys came out empty must not quietly store plaintext. Only
			// the empty value means "no encryption".
			return nil, usagef("--age-recipient/BACKUP_AGE_RECIPIENTS is %q: it holds separators but no key (give age1… public keys, or leave it empty for no encryption)", v)
		}
		keys = append(keys, found...)
	}
	var text bytes.Buffer
	if len(keys) > 0 {
		// Parsed on their own first, so that an error names the flag, not a line of a file.
		if _, err := stream.ParseRecipients(strings.NewReader(strings.Join(keys, "\n"))); err != nil {
			return nil, usagef("--age-recipient/BACKUP_AGE_RECIPIENTS: %v", err)
		}
		text.WriteString(strings.Join(keys, "\n") + "\n")
	}
	if f.RecipientsFile != "" {
		b, err := os.ReadFile(f.RecipientsFile)
		if err != nil {
			return nil, usagef("--age-recipients-file: %v", err)
		}
		if _, err := stream.ParseRecipients(bytes.NewReader(b)); err != nil {
			return nil, usagef("--age-recipients-file %s: %v", f.RecipientsFile, err)
		}
		text.Write(b)
	}
	if text.Len() == 0 {
		return nil, nil
	}
	rs, err := stream.ParseRecipients(&text)
	if err != nil {
		return nil, usagef("age recipients: %v", err)
	}
	return rs, nil
}

// AgeIdentityFlags give the private keys that decrypt encrypted backups. They are secrets:
// registered for redaction and never logged.
type AgeIdentityFlags struct {
	IdentityFile string `name:"age-identity-file" env:"AGE_IDENTITY_FILE" type:"path" placeholder:"PATH" help:"age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it) to decrypt encrypted backups; e.g. a Kubernetes Secret mounted as a file."`
	Identity     string `name:"age-identity" env:"AGE_IDENTITY" placeholder:"KEY" help:"The age identity itself, for when a file is not at hand; prefer AGE_IDENTITY_FILE (a command line is visible to other users)."`
}

// identities returns the identities given, nil when none is. Encryption is detected from
// each stream, so they are only read, not required.
func (f *AgeIdentityFlags) identities(a *app) (*stream.Identities, error) {
	var text bytes.Buffer
	if f.Identity != "" {
		text.WriteString(f.Identity + "\n")
	}
	if f.IdentityFile != "" {
		b, err := os.ReadFile(f.IdentityFile)
		if err != nil {
			return nil, usagef("--age-identity-file: %v", err)
		}
		text.Write(b)
	}
	if text.Len() == 0 {
		return nil, nil
	}
	for _, line := range strings.Split(text.String(), "\n") {
		if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
			a.secrets.Register(s)
		}
	}
	ids, err := stream.ParseIdentities(&text) // its errors name line numbers, never lines
	if errors.Is(err, stream.ErrPassphraseIdentity) {
		return nil, usagef("age identity (AGE_IDENTITY_FILE or AGE_IDENTITY): it is protected by a passphrase, which mongostash cannot ask for: give it a plain identity file, as age-keygen writes it (e.g. a Kubernetes Secret mounted as a file; age -d key.age > key.txt removes the passphrase)")
	}
	if err != nil {
		return nil, usagef("age identity (AGE_IDENTITY_FILE or AGE_IDENTITY): %v", err)
	}
	return ids, nil
}

// decryptHint adds to an error of opening an encrypted backup what to do about it,
// naming the recipients the manifest lists when there is one.
func decryptHint(err error, m *catalog.Manifest) error {
	to := ""
	if m != nil && len(m.Recipients) > 0 {
		to = "; the backup is encrypted to " + strings.Join(m.Recipients, ", ")
	}
	switch {
	case errors.Is(err, stream.ErrNoIdentity):
		return usagef("%w (set AGE_IDENTITY_FILE or --age-identity-file to the age identity file of one of its recipients%s)", err, to)
	case errors.Is(err, stream.ErrWrongIdentity):
		return fmt.Errorf("%w (give the identity of one of its recipients%s)", err, to)
	}
	return err
}
