package catalog

import (
	"strings"
	"time"

	"github.com/mongostash/mongostash/stream"
)

const (
	keyStem    = "backup-"
	keyDump    = ".dump"
	ourLayout  = "2006-01-02T15:04:05.000000Z" // ours: UTC, always six fractional digits
	seedLayout = "2006-01-02T15:04:05"         // Python's naive isoformat() without microseconds
	seedMicros = "2006-01-02T15:04:05.000000"  // ... and with them
)

// BackupName is what a backup's object key says about it.
type BackupName struct {
	Key         string    // the full object key, prefix included
	Time        time.Time // when the backup started, in UTC
	Compression stream.Compression
	Encryption  stream.Encryption // Unencrypted, or Age for keys ending in ".age"
	// Seed reports a name written by the Python scripts mongostash replaces:
	// `backup-<isoformat()>.dump`, a zone-less time read as UTC, never compressed.
	Seed bool
}

// BackupKey returns the object key of a backup started at t, compressed with c and
// encrypted with e: prefix + "backup-2026-11-25T18:48:54.123456Z.dump" + compressionExt(c) + encryptionExt(e),
// with t in UTC truncated to microseconds. The names sort by time as strings.
func BackupKey(prefix string, t time.Time, c stream.Compression, e stream.Encryption) string {
	return prefix + keyStem + t.UTC().Format(ourLayout) + keyDump + LayerExt(c, e)
}

// LayerExt is what the name of any object the tool stores ends with after its own
// extension: the compression's, then the encryption's (".zst.age").
func LayerExt(c stream.Compression, e stream.Encryption) string {
	return compressionExt(c) + encryptionExt(e)
}

// cutLayerExt cuts stemExt and the layer extensions that follow it (LayerExt) off the end
// of name. ok is false when name does not end that way.
func cutLayerExt(name, stemExt string) (stem string, c stream.Compression, e stream.Encryption, ok bool) {
	for _, e := range encryptions { // Unencrypted, with no extension, comes last
		rest, found := strings.CutSuffix(name, encryptionExt(e))
		if !found {
			continue
		}
		for _, c := range compressions { // None, with no extension, comes last
			if stem, found := strings.CutSuffix(rest, stemExt+compressionExt(c)); found {
				return stem, c, e, true
			}
		}
	}
	return "", "", "", false
}

// ParseBackupKey reports whether key names a backup directly under prefix, and what the
// name says. It accepts exactly the names BackupKey writes (every compression, encrypted
// or not) and the seed's `backup-<Python isoformat()>.dump` (with or without microseconds,
// no zone, read as UTC).
// Everything else is not a backup: keys outside prefix or in a deeper "folder", other
// suffixes (manifests included), impossible dates, other time spellings.
func ParseBackupKey(prefix, key string) (BackupName, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || strings.Contains(rest, "/") {
		return BackupName{}, false
	}
	rest, ok = strings.CutPrefix(rest, keyStem)
	if !ok {
		return BackupName{}, false
	}
	rest, compression, encryption, ok := cutLayerExt(rest, keyDump)
	if !ok {
		return BackupName{}, false
	}
	if t, ok := parseExact(ourLayout, rest); ok {
		return BackupName{Key: key, Time: t, Compression: compression, Encryption: encryption}, true
	}
	if compression != stream.None || encryption != stream.Unencrypted {
		// The seed never compressed nor encrypted; a seed-style time with such a suffix is
		// nobody's name.
		return BackupName{}, false
	}
	t, ok := parseExact(seedLayout, rest)
	if !ok {
		// isoformat() writes microseconds only when they are not zero.
		if t, ok = parseExact(seedMicros, rest); !ok || t.Nanosecond() == 0 {
			return BackupName{}, false
		}
	}
	return BackupName{Key: key, Time: t, Compression: compression, Seed: true}, true
}

// parseExact parses s with layout in UTC and accepts it only when formatting the result
// gives s back: time.Parse alone tolerates extra fractional digits, single-digit fields
// and years outside four digits, none of which any writer of our names produces.
func parseExact(layout, s string) (time.Time, bool) {
	if len(s) != len(layout) {
		return time.Time{}, false
	}
	t, err := time.Parse(layout, s)
	if err != nil || t.Format(layout) != s {
		return time.Time{}, false
	}
	return t.UTC(), true
}
