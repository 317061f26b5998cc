package catalog

import (
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/stream"
)

func TestBackupKey(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	for _, tc := range []struct {
		prefix string
		t      time.Time
		c      stream.Compression
		e      stream.Encryption
		want   string
	}{
		{"", time.Date(2026, 11, 25, 18, 48, 54, 123456789, time.UTC), stream.None, stream.Unencrypted, "backup-2026-11-25T18:48:54.123456Z.dump"},
		{"prod/", time.Date(2026, 11, 25, 18, 48, 54, 0, time.UTC), stream.Zstd, stream.Unencrypted, "prod/backup-2026-11-25T18:48:54.000000Z.dump.zst"},
		{"a/b/", time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), stream.Gzip, stream.Unencrypted, "a/b/backup-2026-01-02T03:04:05.000006Z.dump.gz"},
		{"x-", time.Date(2026, 11, 25, 13, 48, 54, 500000000, est), stream.None, stream.Unencrypted, "x-backup-2026-11-25T18:48:54.500000Z.dump"},
		{"", time.Date(2026, 11, 25, 18, 48, 54, 0, time.UTC), stream.Zstd, stream.Age, "backup-2026-11-25T18:48:54.000000Z.dump.zst.age"},
		{"p/", time.Date(2026, 11, 25, 18, 48, 54, 0, time.UTC), stream.None, stream.Age, "p/backup-2026-11-25T18:48:54.000000Z.dump.age"},
	} {
		if got := BackupKey(tc.prefix, tc.t, tc.c, tc.e); got != tc.want {
			t.Errorf("BackupKey(%q, %v, %q, %q) = %q, want %q", tc.prefix, tc.t, tc.c, tc.e, got, tc.want)
		}
	}
}

// parseCases are the table of TestParseBackupKey and the seeds of FuzzParseBackupKey.
var parseCases = []struct {
	prefix, key string
	want        BackupName // Key is filled in from key when ok
	ok          bool
}{
	// Ours.
	{"", "backup-2026-11-25T18:48:54.123456Z.dump", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 123456), Compression: stream.None}, true},
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.zst", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 123456), Compression: stream.Zstd}, true},
	{"", "backup-2026-11-25T18:48:54.000000Z.dump.gz", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 0), Compression: stream.Gzip}, true},
	{"prod/", "prod/backup-2024-02-29T23:59:59.999999Z.dump.zst", BackupName{Time: utc(2024, 2, 29, 23, 59, 59, 999999), Compression: stream.Zstd}, true},
	{"db1-", "db1-backup-2026-11-25T18:48:54.123456Z.dump", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 123456), Compression: stream.None}, true},
	// Ours, encrypted with age after compression.
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.zst.age", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 123456), Compression: stream.Zstd, Encryption: stream.Age}, true},
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.gz.age", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 123456), Compression: stream.Gzip, Encryption: stream.Age}, true},
	{"prod/", "prod/backup-2026-11-25T18:48:54.123456Z.dump.age", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 123456), Compression: stream.None, Encryption: stream.Age}, true},
	// The seed's: Python's naive datetime.isoformat(), with and without microseconds.
	{"", "backup-2026-11-25T18:48:54.123456.dump", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 123456), Compression: stream.None, Seed: true}, true},
	{"", "backup-2026-11-25T18:48:54.dump", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 0), Compression: stream.None, Seed: true}, true},
	{"", "backup-2026-01-01T00:00:00.000001.dump", BackupName{Time: utc(2026, 1, 1, 0, 0, 0, 1), Compression: stream.None, Seed: true}, true},
	{"s/", "s/backup-2026-11-25T18:48:54.dump", BackupName{Time: utc(2026, 11, 25, 18, 48, 54, 0), Compression: stream.None, Seed: true}, true},
	// Not backups.
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.manifest.json", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.dump.manifest.json", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.bz2", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.123456Z.tar", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.dump.zst", BackupName{}, false}, // seed time, compressed
	{"", "backup-2026-11-25T18:48:54.dump.age", BackupName{}, false}, // seed time, encrypted
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.age.zst", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.zst.age.age", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.123456Z.dump.zst.age.manifest.json", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.123456Z.age", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.123Z.dump", BackupName{}, false},     // milliseconds
	{"", "backup-2026-11-25T18:48:54.123.dump", BackupName{}, false},      // milliseconds, seed style
	{"", "backup-2026-11-25T18:48:54.1234567Z.dump", BackupName{}, false}, // nanoseconds
	{"", "backup-2026-11-25T18:48:54Z.dump", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.000000.dump", BackupName{}, false},        // isoformat() omits zero microseconds              // zone without fraction
	{"", "backup-2026-11-25T18:48:54+00:00.dump", BackupName{}, false},         // aware isoformat()
	{"", "backup-2026-11-25T18:48:54.123456+00:00.dump", BackupName{}, false},  // aware isoformat()
	{"", "backup-2026-11-25 18:48:54.dump", BackupName{}, false},               // str(datetime)
	{"", "backup-2026-02-30T18:48:54.dump", BackupName{}, false},               // no such day
	{"", "backup-2025-02-29T18:48:54.123456Z.dump", BackupName{}, false},       // not a leap year
	{"", "backup-2026-13-01T00:00:00.dump", BackupName{}, false},               // no such month
	{"", "backup-2026-11-25T24:00:00.dump", BackupName{}, false},               // no such hour
	{"", "backup-2026-11-25T18:48:60.dump", BackupName{}, false},               // leap second
	{"", "backup-2026-1-25T18:48:54.dump", BackupName{}, false},                // one-digit month
	{"", "backup-12026-11-25T18:48:54.dump", BackupName{}, false},              // five-digit year
	{"", "backup-.dump", BackupName{}, false},                                  //
	{"", "backup-2026-11-25T18:48:54.123456z.dump", BackupName{}, false},       // lowercase z
	{"", "Backup-2026-11-25T18:48:54.dump", BackupName{}, false},               //
	{"", "mybackup-2026-11-25T18:48:54.dump", BackupName{}, false},             //
	{"", "sub/backup-2026-11-25T18:48:54.dump", BackupName{}, false},           // deeper than the prefix
	{"prod/", "prod/old/backup-2026-11-25T18:48:54.dump", BackupName{}, false}, // deeper than the prefix
	{"prod/", "backup-2026-11-25T18:48:54.dump", BackupName{}, false},          // outside the prefix
	{"prod/", "production/backup-2026-11-25T18:48:54.dump", BackupName{}, false},
	{"", "backup-2026-11-25T18:48:54.123456Z.dump/", BackupName{}, false},
	{"", "", BackupName{}, false},
}

func utc(y int, mo time.Month, d, h, mi, s, us int) time.Time {
	return time.Date(y, mo, d, h, mi, s, us*1000, time.UTC)
}

func TestParseBackupKey(t *testing.T) {
	for _, tc := range parseCases {
		got, ok := ParseBackupKey(tc.prefix, tc.key)
		want := tc.want
		if tc.ok {
			want.Key = tc.key
		}
		if ok != tc.ok || got != want || (ok && got.Time.Location() != time.UTC) {
			t.Errorf("ParseBackupKey(%q, %q) = %+v, %v; want %+v, %v", tc.prefix, tc.key, got, ok, want, tc.ok)
		}
	}
}

func TestCompression(t *testing.T) {
	for _, c := range compressions {
		if !c.Valid() {
			t.Fatalf("%q not valid", c)
		}
		for _, e := range encryptions {
			key := BackupKey("p/", time.Now(), c, e)
			if got, ok := ParseBackupKey("p/", key); !ok || got.Compression != c || got.Encryption != e {
				t.Errorf("ParseBackupKey(BackupKey(…, %q, %q)) = %+v, %v; want compression %q, encryption %q", c, e, got, ok, c, e)
			}
		}
		for _, s := range []string{string(c), strings.TrimPrefix(compressionExt(c), ".")} {
			if got, err := stream.ParseCompression(s); err != nil || got != c {
				t.Errorf("ParseCompression(%q) = %q, %v; want %q", s, got, err, c)
			}
		}
	}
	if stream.Compression("lz4").Valid() {
		t.Error("lz4 valid")
	}
	if _, err := stream.ParseCompression("lz4"); err == nil || !strings.Contains(err.Error(), "lz4") {
		t.Errorf("ParseCompression(lz4) = %v, want an error naming it", err)
	}
}

// FuzzParseBackupKey checks that the parser never accepts a name no writer produces: any
// key it accepts formats back to itself (ours through BackupKey, the seed's through
// Python's isoformat rules), and that every time BackupKey formats, with every
// compression and encryption, parses back to itself.
func FuzzParseBackupKey(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.prefix, tc.key, int64(1764096534), int64(123456789), ".zst", "")
	}
	f.Add("", "", int64(-62135596800), int64(0), "", ".age")              // 0001-01-01
	f.Add("p/", "", int64(253402300799), int64(999999999), ".gz", ".age") // 9999-12-31T23:59:59.999999999
	f.Fuzz(func(t *testing.T, prefix, key string, sec, nsec int64, compExt, encExt string) {
		if name, ok := ParseBackupKey(prefix, key); ok {
			if name.Key != key {
				t.Fatalf("Key = %q, want %q", name.Key, key)
			}
			var again string
			if name.Seed {
				if name.Encryption != stream.Unencrypted {
					t.Fatalf("seed name %q with encryption %q", key, name.Encryption)
				}
				again = prefix + "backup-" + pythonIsoformat(name.Time) + ".dump"
			} else {
				if !name.Compression.Valid() || !name.Encryption.Valid() {
					t.Fatalf("unknown compression %q or encryption %q", name.Compression, name.Encryption)
				}
				again = BackupKey(prefix, name.Time, name.Compression, name.Encryption)
			}
			if again != key {
				t.Fatalf("ParseBackupKey(%q, %q) = %+v, which formats as %q", prefix, key, name, again)
			}
			if strings.Contains(strings.TrimPrefix(key, prefix), "/") {
				t.Fatalf("accepted a key deeper than the prefix: %q", key)
			}
		}

		// Round trip from a time, for every year a Python datetime can hold.
		tm := time.Unix(sec, nsec%1e9).UTC()
		if tm.Year() < 1 || tm.Year() > 9999 {
			return
		}
		c, err := stream.ParseCompression(strings.TrimPrefix(compExt, "."))
		if err != nil {
			c = stream.None
		}
		e := stream.Unencrypted
		if encExt == encryptionExt(stream.Age) {
			e = stream.Age
		}
		k := BackupKey(prefix, tm, c, e)
		name, ok := ParseBackupKey(prefix, k)
		if !ok {
			t.Fatalf("ParseBackupKey(%q, BackupKey(…)=%q) rejected", prefix, k)
		}
		if want := tm.Truncate(time.Microsecond); !name.Time.Equal(want) || name.Seed || name.Compression != c || name.Encryption != e {
			t.Fatalf("ParseBackupKey(%q) = %+v, want time %v, %s, %s and not seed", k, name, want, c, e)
		}
		seedKey := prefix + "backup-" + pythonIsoformat(tm.Truncate(time.Microsecond)) + ".dump"
		name, ok = ParseBackupKey(prefix, seedKey)
		if !ok || !name.Seed || !name.Time.Equal(tm.Truncate(time.Microsecond)) {
			t.Fatalf("ParseBackupKey(%q) = %+v, %v; want the seed's name of %v", seedKey, name, ok, tm)
		}
	})
}

// pythonIsoformat formats t as Python's naive datetime.isoformat() does: microseconds only
// when they are not zero.
func pythonIsoformat(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

func TestEncryption(t *testing.T) {
	for _, tc := range []struct {
		e   stream.Encryption
		ext string
	}{
		{stream.Age, ".age"},
		{stream.Unencrypted, ""},
	} {
		if got := encryptionExt(tc.e); !tc.e.Valid() || got != tc.ext {
			t.Errorf("encryptionExt(%q) = %q, want %q", tc.e, got, tc.ext)
		}
	}
	if stream.Encryption("gpg").Valid() {
		t.Error("gpg valid")
	}
	if got := LayerExt(stream.Zstd, stream.Age); got != ".zst.age" {
		t.Errorf("LayerExt(zstd, age) = %q, want .zst.age", got)
	}
}
