package dump

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// Collections a restore with Drop creates for itself, named so that a later run recognises
// them whatever happened to the run that made them.
const (
	// TemporaryPrefix starts the name of a temporary collection: a restored copy waiting
	// to be swapped in, or a probe. It only ever holds data that is also in the backup, so a
	// leftover one may be dropped; backups never dump them.
	TemporaryPrefix = "mongostash_tmp_"
	// AsidePrefix starts the name under which an existing collection is kept while its
	// replacement is renamed in. Until the swap is committed it holds the only copy of the
	// data it replaced, so nothing ever drops a leftover one but its own restore.
	AsidePrefix = "mongostash_old_"
)

// maxAsideNamespace keeps an aside name, with its database, within the namespace length
// of every MongoDB version (120 bytes before 4.4).
const maxAsideNamespace = 120

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func temporaryName() string { return TemporaryPrefix + randomHex() }

// asideName names the place of an existing collection during its swap. It ends with the
// collection's name, dots made underscores, so that someone finding it after a crash knows
// whose data it holds — and so that no rename the swap makes has a dot on both sides,
// which is the shape the pre-flight probe checks.
func asideName(db, coll string) string {
	name := AsidePrefix + randomHex()
	withColl := name + "_" + strings.ReplaceAll(coll, ".", "_")
	if len(db)+1+len(withColl) <= maxAsideNamespace {
		return withColl
	}
	return name
}

// IsTemporary reports a collection name that a restore made for itself and that may be
// dropped when found later: a restored copy or a probe, never data moved aside.
func IsTemporary(coll string) bool { return strings.HasPrefix(coll, TemporaryPrefix) }

// IsAside reports a collection name under which a restore kept existing data during a
// swap; found later, it may hold the only copy of that data.
func IsAside(coll string) bool { return strings.HasPrefix(coll, AsidePrefix) }
