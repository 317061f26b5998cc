package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

// newKey generates an age identity and returns it with its recipient, as age-keygen does.
func newKey(t *testing.T) (identity, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.String(), id.Recipient().String()
}

func recipients(t *testing.T, keys ...string) *Recipients {
	t.Helper()
	rs, err := ParseRecipients(strings.NewReader(strings.Join(keys, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func identities(t *testing.T, keys ...string) *Identities {
	t.Helper()
	ids, err := ParseIdentities(strings.NewReader(strings.Join(keys, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func encode(t *testing.T, e Encoding, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll opens stored with ids and reads the plain archive to its end.
func readAll(stored []byte, ids *Identities) ([]byte, Layers, error) {
	rc, l, err := Open(bytes.NewReader(stored), ids)
	if err != nil {
		return nil, l, err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	return got, l, err
}

func TestEncryptedRoundTrip(t *testing.T) {
	data := archiveLike(1<<20 + 12345) // many 64 KiB chunks and a short last one
	id1, rec1 := newKey(t)
	id2, rec2 := newKey(t)
	rs := recipients(t, rec1, rec2)
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			stored := encode(t, Encoding{Compression: c, Recipients: rs}, data)
			if !bytes.HasPrefix(stored, ageMagic) {
				t.Fatalf("stored stream starts with %q, want the age header", stored[:min(len(stored), 30)])
			}
			for _, id := range []string{id1, id2} { // either recipient's key decrypts
				got, l, err := readAll(stored, identities(t, id))
				if err != nil {
					t.Fatal(err)
				}
				if l != (Layers{Compression: c, Encryption: Age}) {
					t.Errorf("Open found %+v, want %s and age", l, c)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("round trip gave %d bytes, want the %d written", len(got), len(data))
				}
			}
		})
	}
}

// TestEncryptedHoldsNoPlaintext: nothing of the archive — its magic, the compressor's
// magic, names or document text — is readable in what is stored.
func TestEncryptedHoldsNoPlaintext(t *testing.T) {
	data := archiveLike(256 << 10)
	_, rec := newKey(t)
	for _, c := range []Compression{Zstd, None} {
		stored := encode(t, Encoding{Compression: c, Recipients: recipients(t, rec)}, data)
		for _, plain := range [][]byte{archiveMagic, zstdMagic, gzipMagic, []byte("documents"), []byte(rec)} {
			if i := bytes.Index(stored, plain); i >= 0 && len(plain) > 2 {
				t.Errorf("%s: the stored bytes hold %q at %d", c, plain, i)
			}
		}
		if bytes.HasPrefix(stored[len(ageMagic):], zstdMagic) || len(stored) < len(data)/2 && c == None {
			t.Errorf("%s: stored stream does not look encrypted", c)
		}
	}
}

func TestOpenIdentityErrors(t *testing.T) {
	_, rec := newKey(t)
	other, _ := newKey(t)
	stored := encode(t, Encoding{Compression: Zstd, Recipients: recipients(t, rec)}, archiveLike(1000))

	if _, _, err := Open(bytes.NewReader(stored), nil); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("Open without identity = %v, want ErrNoIdentity", err)
	}
	if _, _, err := Decompress(bytes.NewReader(stored)); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("Decompress(encrypted) = %v, want ErrNoIdentity", err)
	}
	_, l, err := Open(bytes.NewReader(stored), identities(t, other))
	if !errors.Is(err, ErrWrongIdentity) || l.Encryption != Age {
		t.Errorf("Open with another identity = %v (layers %+v), want ErrWrongIdentity and age", err, l)
	}
	if strings.Contains(err.Error(), "AGE-SECRET-KEY") || strings.Contains(err.Error(), other) {
		t.Errorf("the error shows an identity: %v", err)
	}
}

// TestDamagedEncryptedStreamsFail: a changed, cut or extended object must fail when read,
// at Open or at the Read that reaches the damage, never end quietly.
func TestDamagedEncryptedStreamsFail(t *testing.T) {
	id, rec := newKey(t)
	ids := identities(t, id)
	data := archiveLike(300 << 10)
	stored := encode(t, Encoding{Compression: None, Recipients: recipients(t, rec)}, data)
	headerEnd := bytes.Index(stored, []byte("\n--- ")) + 1
	payload := bytes.IndexByte(stored[headerEnd:], '\n') + headerEnd + 1 // after the header MAC line
	const chunk = 64<<10 + 16                                            // ciphertext of one full chunk
	flip := func(i int) []byte { b := bytes.Clone(stored); b[i] ^= 0x01; return b }

	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"flipped byte in the recipient stanza": {flip(len(ageMagic) + 12), nil}, // wrong identity or damaged
		"flipped byte in the header MAC":       {flip(headerEnd + 6), ErrDamaged},
		"flipped byte in the nonce":            {flip(payload + 3), ErrDamaged},
		"flipped byte in the first chunk":      {flip(payload + 16 + 100), ErrDamaged},
		"flipped byte in a middle chunk":       {flip(payload + 16 + 2*chunk + 7), ErrDamaged},
		"flipped last byte":                    {flip(len(stored) - 1), ErrDamaged},
		"cut at a chunk boundary":              {stored[:payload+16+3*chunk], ErrDamaged},
		"cut inside a chunk":                   {stored[:payload+16+chunk+500], ErrDamaged},
		"cut by one byte":                      {stored[:len(stored)-1], ErrDamaged},
		"cut after the header":                 {stored[:payload], ErrDamaged},
		"cut inside the header":                {stored[:headerEnd-5], ErrDamaged},
		"trailing bytes":                       {append(bytes.Clone(stored), 0), ErrDamaged},
	} {
		t.Run(name, func(t *testing.T) {
			got, _, err := readAll(tc.data, ids)
			if err == nil {
				t.Fatalf("read %d bytes without an error", len(got))
			}
			if tc.want == nil {
				if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrWrongIdentity) {
					t.Fatalf("error %v, want ErrDamaged or ErrWrongIdentity", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestSourceFailureIsNotDamage: when the download fails, the error is the download's, not
// a claim that the object is damaged.
func TestSourceFailureIsNotDamage(t *testing.T) {
	id, rec := newKey(t)
	stored := encode(t, Encoding{Compression: Zstd, Recipients: recipients(t, rec)}, archiveLike(500<<10))
	broken := errors.New("connection reset by the store")
	for _, at := range []int{40, len(stored) / 2} {
		rc, _, err := Open(&failingReader{data: stored[:at], err: broken}, identities(t, id))
		if err == nil {
			_, err = io.ReadAll(rc)
		}
		if !errors.Is(err, broken) || errors.Is(err, ErrDamaged) {
			t.Errorf("source failing at byte %d: %v, want the source's error and not ErrDamaged", at, err)
		}
	}
}

func TestParseRecipients(t *testing.T) {
	_, rec1 := newKey(t)
	_, rec2 := newKey(t)
	secret, _ := newKey(t)
	rs, err := ParseRecipients(strings.NewReader("# ops team\n" + rec1 + "\n\n" + rec2 + "\n" + rec1 + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Keys(); fmt.Sprint(got) != fmt.Sprint([]string{rec1, rec2}) {
		t.Errorf("Keys() = %v, want [%s %s] (duplicates dropped)", got, rec1, rec2)
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"empty":                    {"# nobody\n", "no recipients"},
		"not a key":                {"age1notakey", "line 1"},
		"identity by mistake":      {rec1 + "\n" + secret, "line 2"},
		"hybrid mixed with x25519": {rec1 + "\n" + pq.Recipient().String(), "incompatible recipients"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRecipients(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseRecipients = %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("the error shows the line: %v", err)
			}
		})
	}
	// Post-quantum hybrid keys work on their own.
	pqStored := encode(t, Encoding{Compression: None, Recipients: recipients(t, pq.Recipient().String())}, archiveLike(100))
	if got, _, err := readAll(pqStored, identities(t, pq.String())); err != nil || !bytes.Equal(got, archiveLike(100)) {
		t.Errorf("hybrid round trip: %v", err)
	}
}

func TestIdentitiesNeverPrint(t *testing.T) {
	id, _ := newKey(t)
	ids := identities(t, "# created by age-keygen", id)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, ids); strings.Contains(s, "AGE-SECRET") || !strings.Contains(s, "1 age identities") {
			t.Errorf("Sprintf(%q, ids) = %q", format, s)
		}
	}
	_, err := ParseIdentities(strings.NewReader(id + "\nAGE-SECRET-KEY-1NOTVALID\n"))
	if err == nil || strings.Contains(err.Error(), "NOTVALID") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseIdentities(bad line) = %v, want an error naming the line number only", err)
	}
	if _, err := ParseIdentities(strings.NewReader("")); err == nil {
		t.Error("ParseIdentities(empty): no error")
	}
}

// TestParseIdentitiesPassphraseProtected: an identity file encrypted with a passphrase
// (`age -p`, binary or armored) is ErrPassphraseIdentity, not age's "unknown identity
// type"; a plain one still parses.
func TestParseIdentitiesPassphraseProtected(t *testing.T) {
	id, _ := newKey(t)
	rec, err := age.NewScryptRecipient("passphrase")
	if err != nil {
		t.Fatal(err)
	}
	rec.SetWorkFactor(10)
	var bin bytes.Buffer
	w, err := age.Encrypt(&bin, rec)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, id)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	armored := "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n-----END AGE ENCRYPTED FILE-----\n"
	for name, text := range map[string]string{"binary": bin.String(), "armored": armored} {
		if _, err := ParseIdentities(strings.NewReader(text)); !errors.Is(err, ErrPassphraseIdentity) {
			t.Errorf("%s: %v, want ErrPassphraseIdentity", name, err)
		}
	}
	if _, err := ParseIdentities(strings.NewReader("# created: now\n" + id + "\n")); err != nil {
		t.Errorf("a plain identity file: %v", err)
	}
}
