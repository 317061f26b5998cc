package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/stream"
)

// ageKey is a key pair made in the test, as age-keygen makes one.
type ageKey struct {
	identity  string // AGE-SECRET-KEY-1…
	recipient string // age1…
	file      string // an identity file holding identity, mode 0600
}

func newAgeKey(t *testing.T) ageKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	k := ageKey{identity: id.String(), recipient: id.Recipient().String(), file: filepath.Join(t.TempDir(), "key.txt")}
	body := "# created: " + time.Now().Format(time.RFC3339) + "\n# public key: " + k.recipient + "\n" + k.identity + "\n"
	if err := os.WriteFile(k.file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

func getObject(t *testing.T, b *bed, key string) []byte {
	t.Helper()
	out, err := b.bucket.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// encryptedBackup loads the sample data and backs it up encrypted to two recipients, one
// from BACKUP_AGE_RECIPIENTS and one from a recipients file; it returns the keys and the
// backup's key.
func encryptedBackup(t *testing.T, b *bed, docs int, kv ...string) (k1, k2 ageKey, key string, r result) {
	t.Helper()
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, docs); err != nil {
		t.Fatal(err)
	}
	k1, k2 = newAgeKey(t), newAgeKey(t)
	recipients := filepath.Join(t.TempDir(), "recipients.txt")
	if err := os.WriteFile(recipients, []byte("# the ops team\n"+k2.recipient+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, b.env.with(append(kv, "BACKUP_AGE_RECIPIENTS", k1.recipient, "BACKUP_AGE_RECIPIENTS_FILE", recipients)...), "backup")
	for _, k := range listKeys(t, b) {
		if _, ok := catalog.ParseBackupKey("", k); ok {
			key = k
		}
	}
	return k1, k2, key, r
}

// TestEncryptedBackupRoundTrip: a backup encrypted to two recipients is named .zst.age,
// its manifest says so in the clear (recipients' public keys, SHA-256 of the stored
// bytes), and either identity verifies and restores it byte for byte; no identity is ever
// logged.
func TestEncryptedBackupRoundTrip(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	k1, k2, key, backupRun := encryptedBackup(t, b, 1200)
	if !strings.HasSuffix(key, ".dump.zst.age") {
		t.Fatalf("backup key %q, want …dump.zst.age", key)
	}
	if !strings.Contains(backupRun.stderr, k1.recipient) || !strings.Contains(backupRun.stderr, `"encryption":"age"`) {
		t.Errorf("the backup log should name the encryption and its recipients:\n%s", backupRun.stderr)
	}

	stored := getObject(t, b, key)
	var m catalog.Manifest
	raw := getObject(t, b, catalog.ManifestKey(key))
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored)
	if m.Encryption != stream.Age || strings.Join(m.Recipients, " ") != k1.recipient+" "+k2.recipient ||
		m.SHA256 != hex.EncodeToString(sum[:]) || m.Size != int64(len(stored)) || m.Compression != stream.Zstd {
		t.Errorf("manifest %s: want encryption age, both recipients, and the size and SHA-256 of the stored bytes", raw)
	}
	if bytes.Contains(raw, []byte("AGE-SECRET")) {
		t.Error("the manifest holds an identity")
	}

	var list []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, b.env, "list", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Complete || list[0].Encryption != stream.Age {
		t.Errorf("list: %+v, want one complete backup encrypted with age", list)
	}

	runs := []result{mustRun(t, b.env.with("AGE_IDENTITY_FILE", k2.file), "verify", "latest")}
	for i, e := range []env{b.env.with("AGE_IDENTITY_FILE", k1.file), b.env.with("AGE_IDENTITY", k2.identity)} {
		target := testenv.UniqueName("r")
		t.Cleanup(func() { _ = b.mongo.Client.Database(target).Drop(context.Background()) })
		r := mustRun(t, e, "restore", "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*")
		runs = append(runs, r)
		if !strings.Contains(r.stderr, `"encryption":"age"`) {
			t.Errorf("restore %d: the log should say the backup was decrypted:\n%s", i, r.stderr)
		}
		compareSnapshots(t, takeSnapshot(t, b.mongo.Client, target), takeSnapshot(t, b.mongo.Client, b.mongo.DB))
	}
	for _, r := range append(runs, backupRun) {
		for _, secret := range []string{k1.identity, k2.identity, "AGE-SECRET-KEY"} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Fatalf("output shows an identity:\n%s", r)
			}
		}
	}
}

// TestEncryptedObjectHoldsNoPlaintext: the stored object starts with the age header and
// holds neither the archive's nor the compressor's magic, nor any name or value of the data.
func TestEncryptedObjectHoldsNoPlaintext(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 600); err != nil {
		t.Fatal(err)
	}
	k := newAgeKey(t)
	for _, comp := range []string{"zstd", "none"} {
		mustRun(t, b.env.with("BACKUP_COMPRESSION", comp, "BACKUP_AGE_RECIPIENTS", k.recipient), "backup")
	}
	n := 0
	for _, key := range listKeys(t, b) {
		if _, ok := catalog.ParseBackupKey("", key); !ok {
			continue
		}
		n++
		stored := getObject(t, b, key)
		if !bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")) {
			t.Errorf("%s starts with %q, want the age header", key, stored[:20])
		}
		for _, plain := range []string{"\x6d\xe2\x99\x81", "\x28\xb5\x2f\xfd", b.mongo.DB, "users", "orders", "audit.log", "ORD-000"} {
			if bytes.Contains(stored, []byte(plain)) {
				t.Errorf("%s holds %q in the clear", key, plain)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d backups, want 2", n)
	}
}

// TestEncryptedRestoreRefusals: without the identity, with the wrong one, or from an
// object that was changed or cut short, restore fails with a message that says so, and
// with --drop replaces nothing. Damage in the first 64 KiB chunk is found before anything
// is written; later damage while restoring into temporary collections, which are then
// dropped. The backup is uncompressed so that it spans many chunks.
func TestEncryptedRestoreRefusals(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	k1, k2, key, _ := encryptedBackup(t, b, 3000, "BACKUP_COMPRESSION", "none")
	stored := getObject(t, b, key)
	if len(stored) < 8*64<<10 {
		t.Fatalf("the backup is %d bytes: too small to damage it after its first chunks", len(stored))
	}
	// Change the live data after the backup, so "as it was" differs from the backup.
	if _, err := b.mongo.Client.Database(b.mongo.DB).Collection("users").InsertOne(context.Background(), bson.D{{Key: "_id", Value: "added-after-backup"}}); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, b.mongo.Client, b.mongo.DB)
	other := newAgeKey(t)
	file := func(data []byte) string {
		p := filepath.Join(t.TempDir(), "obj.age")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flip := func(at int) []byte { f := bytes.Clone(stored); f[at] ^= 0x01; return f }
	// FerretDB v1 cannot swap dotted collection names (see TestRestoreDropReplaces).
	drop := []string{"restore", "--drop", "--ns-exclude", "*.audit.log"}
	for name, tc := range map[string]struct {
		env  env
		args []string
		code int
		want []string
	}{
		"no identity":               {b.env, append(drop, key), 2, []string{"no age identity", "AGE_IDENTITY_FILE", k1.recipient, k2.recipient}},
		"wrong identity":            {b.env.with("AGE_IDENTITY_FILE", other.file), append(drop, key), 1, []string{"none of the age identities", k1.recipient}},
		"flipped byte, first chunk": {b.env.with("AGE_IDENTITY_FILE", k1.file), append(drop, "--from", file(flip(1000))), 1, []string{"damaged", "nothing was written"}},
		"flipped byte, late":        {b.env.with("AGE_IDENTITY_FILE", k1.file), append(drop, "--from", file(flip(len(stored)*3/4))), 1, []string{"damaged", "existing collections are unchanged"}},
		"cut short":                 {b.env.with("AGE_IDENTITY_FILE", k1.file), append(drop, "--from", file(stored[:len(stored)*2/3])), 1, []string{"damaged", "existing collections are unchanged"}},
		"cut by one byte":           {b.env.with("AGE_IDENTITY_FILE", k1.file), append(drop, "--from", file(stored[:len(stored)-1])), 1, []string{"damaged", "existing collections are unchanged"}},
		"verify, no key":            {b.env, []string{"verify", key}, 2, []string{"no age identity", "AGE_IDENTITY_FILE"}},
		"verify, flipped":           {b.env.with("AGE_IDENTITY_FILE", k2.file), []string{"verify", "--from", file(flip(len(stored) / 2))}, 1, []string{"damaged"}},
		"identity garbage":          {b.env.with("AGE_IDENTITY", "AGE-SECRET-KEY-1GARBAGE"), append(drop, key), 2, []string{"age identity", "line 1"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("want exit %d, got %s", tc.code, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr should mention %q: %s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "GARBAGE") || strings.Contains(r.stderr, k1.identity) || strings.Contains(r.stderr, other.identity) {
				t.Errorf("stderr shows an identity: %s", r.stderr)
			}
			compareSnapshots(t, takeSnapshot(t, b.mongo.Client, b.mongo.DB), before)
		})
	}
}

// TestBadRecipientsStoreNothing: recipients that cannot be used are a configuration
// error before anything is read or stored.
func TestBadRecipientsStoreNothing(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	k := newAgeKey(t)
	for name, tc := range map[string]struct {
		env  env
		want string
	}{
		"not a key":         {b.env.with("BACKUP_AGE_RECIPIENTS", "age1notakey"), "BACKUP_AGE_RECIPIENTS"},
		"identity by error": {b.env.with("BACKUP_AGE_RECIPIENTS", k.identity), "unknown recipient type"},
		"missing file":      {b.env.with("BACKUP_AGE_RECIPIENTS_FILE", "/nonexistent/recipients.txt"), "age-recipients-file"},
		"empty file":        {b.env.with("BACKUP_AGE_RECIPIENTS_FILE", filepath.Join(t.TempDir(), "none")), "age-recipients-file"},
	} {
		t.Run(name, func(t *testing.T) {
			if strings.HasSuffix(tc.env["BACKUP_AGE_RECIPIENTS_FILE"], "none") {
				if err := os.WriteFile(tc.env["BACKUP_AGE_RECIPIENTS_FILE"], []byte("# nobody yet\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runCLI(t, tc.env, "backup")
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, k.identity) {
				t.Fatalf("want exit 2 mentioning %q (and no identity), got %s", tc.want, r)
			}
			if keys := listKeys(t, b); len(keys) != 0 {
				t.Fatalf("stored %v", keys)
			}
		})
	}
	// Several recipients in one variable, separated by spaces and commas; the flag repeats.
	k2, k3 := newAgeKey(t), newAgeKey(t)
	for _, args := range [][]string{
		{"backup"},
		{"backup", "--age-recipient", k.recipient, "--age-recipient", k2.recipient + "," + k3.recipient},
	} {
		e := b.env.with("BACKUP_ALLOW_EMPTY", "true")
		if len(args) == 1 {
			e = e.with("BACKUP_AGE_RECIPIENTS", k.recipient+", "+k2.recipient+" "+k3.recipient)
		}
		mustRun(t, e, args...)
		keys := listKeys(t, b)
		var m catalog.Manifest
		if err := json.Unmarshal(getObject(t, b, keys[len(keys)-1]), &m); err != nil || len(m.Recipients) != 3 {
			t.Fatalf("%v: manifest of %v: %+v, want 3 recipients", args, keys, m)
		}
		time.Sleep(time.Millisecond) // backup keys have microseconds; keep the next one apart
	}
}

// TestStockAgeDecrypts: the README's fallback without mongostash works — `age -d -i key |
// zstd -d` gives a mongodump archive whose every CRC checks — and the other way round, a
// stream compressed and encrypted by the stock tools restores with mongostash, which finds
// both layers from the bytes. It needs the age CLI (Debian package age; .ci/run installs
// it) and skips without it.
func TestStockAgeDecrypts(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"age", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH (Debian package %s; .ci/run installs it): the stock-tools fallback is not tested here", tool, tool)
		}
	}
	b := newBed(t)
	k, _, key, _ := encryptedBackup(t, b, 700)
	stored := getObject(t, b, key)
	cmd := exec.Command("sh", "-c", `age -d -i "$1" | zstd -d -c`, "sh", k.file)
	cmd.Stdin = bytes.NewReader(stored)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("age -d | zstd -d: %v: %s", err, errOut.String())
	}
	plain, layers, err := stream.Open(bytes.NewReader(out.Bytes()), nil)
	if err != nil || layers != (stream.Layers{Compression: stream.None}) {
		t.Fatalf("after age -d | zstd -d: %+v, %v (want a plain archive)", layers, err)
	}
	vs, err := dump.Verify(context.Background(), plain, nil)
	if err != nil || vs.Documents == 0 {
		t.Fatalf("verify: %v (%d documents)", err, vs.Documents)
	}

	// The other way: zstd | age -r, restored by mongostash.
	cmd = exec.Command("sh", "-c", `zstd -q -c | age -r "$1"`, "sh", k.recipient)
	cmd.Stdin = bytes.NewReader(out.Bytes())
	var enc bytes.Buffer
	errOut.Reset()
	cmd.Stdout, cmd.Stderr = &enc, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("zstd | age -r: %v: %s", err, errOut.String())
	}
	file := filepath.Join(t.TempDir(), "stock.zst.age")
	if err := os.WriteFile(file, enc.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	target := testenv.UniqueName("r")
	t.Cleanup(func() { _ = b.mongo.Client.Database(target).Drop(context.Background()) })
	mustRun(t, b.env.with("AGE_IDENTITY_FILE", k.file), "restore", "--from", file, "--ns-from", b.mongo.DB+".*", "--ns-to", target+".*")
	compareSnapshots(t, takeSnapshot(t, b.mongo.Client, target), takeSnapshot(t, b.mongo.Client, b.mongo.DB))
}
