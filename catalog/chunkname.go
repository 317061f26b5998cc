package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/stream"
)

// OplogFolder is the folder, under a store's prefix, of the oplog chunks and gap markers
// that `mongostash pitr` writes.
const OplogFolder = "oplog/"

const (
	chunkExt   = ".bson"
	gapExt     = ".gap.json"
	stampTime  = "20060102T150405Z" // ISO 8601 basic format: sorts as a string, no ':' in keys
	stampLen   = len(stampTime) + 1 + 10
	rangeSep   = "-"
	ordinalFmt = "%010d" // every uint32 fits ten digits, so ordinals sort as strings
)

// ChunkName is what an oplog chunk's key says about it.
//
// A chunk covers the oplog range Since < ts <= Until: it holds every entry of that range
// that its capture selected, in timestamp order. Until is a timestamp the oplog held when
// the range was read (usually the chunk's last entry; with a namespace selection it may be
// an entry of another namespace). Since is the Until of the chunk before it in its chain,
// so the names of a chain read as a sequence: A-B, B-C, C-D. Keys sort by Since, then Until.
type ChunkName struct {
	Key         string // the full object key, prefix included
	Since       optime.Timestamp
	Until       optime.Timestamp
	Compression stream.Compression
	Encryption  stream.Encryption
}

// ChunkKey returns the key of the chunk covering Since < ts <= Until, named as backups are
// after their layers: prefix + "oplog/20261125T184854Z.0000000003-20261125T185854Z.0000000012.bson"
// + compressionExt(c) + encryptionExt(e).
func ChunkKey(prefix string, since, until optime.Timestamp, c stream.Compression, e stream.Encryption) string {
	return prefix + OplogFolder + rangeStem(since, until) + chunkExt + compressionExt(c) + encryptionExt(e)
}

// ParseChunkKey reports whether key names an oplog chunk under prefix, and what the name
// says. It accepts exactly the names ChunkKey writes whose range is not empty.
func ParseChunkKey(prefix, key string) (ChunkName, bool) {
	rest, ok := strings.CutPrefix(key, prefix+OplogFolder)
	if !ok {
		return ChunkName{}, false
	}
	var e stream.Encryption
	for _, e = range encryptions { // those with an extension first
		if r, ok := strings.CutSuffix(rest, encryptionExt(e)); ok {
			rest = r
			break
		}
	}
	for _, c := range compressions {
		if stem, ok := strings.CutSuffix(rest, chunkExt+compressionExt(c)); ok {
			since, until, ok := parseRangeStem(stem)
			if !ok || !since.Before(until) {
				return ChunkName{}, false
			}
			return ChunkName{Key: key, Since: since, Until: until, Compression: c, Encryption: e}, true
		}
	}
	return ChunkName{}, false
}

// GapKey returns the key of the marker of a gap: the oplog entries after the last archived
// entry `after` and before `resume`, the first entry of the next chain, were lost.
func GapKey(prefix string, after, resume optime.Timestamp) string {
	return prefix + OplogFolder + rangeStem(after, resume) + gapExt
}

// ParseGapKey reports whether key names a gap marker under prefix, and the gap's bounds.
func ParseGapKey(prefix, key string) (after, resume optime.Timestamp, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix+OplogFolder)
	if !ok {
		return after, resume, false
	}
	stem, ok := strings.CutSuffix(rest, gapExt)
	if !ok {
		return after, resume, false
	}
	after, resume, ok = parseRangeStem(stem)
	if !ok || !after.Before(resume) {
		return optime.Timestamp{}, optime.Timestamp{}, false
	}
	return after, resume, true
}

func rangeStem(a, b optime.Timestamp) string { return stamp(a) + rangeSep + stamp(b) }

func parseRangeStem(s string) (a, b optime.Timestamp, ok bool) {
	if len(s) != 2*stampLen+len(rangeSep) || s[stampLen:stampLen+len(rangeSep)] != rangeSep {
		return a, b, false
	}
	a, okA := parseStamp(s[:stampLen])
	b, okB := parseStamp(s[stampLen+len(rangeSep):])
	return a, b, okA && okB
}

// stamp writes ts as "20261125T184854Z.0000000003": its second in UTC, then its ordinal.
func stamp(ts optime.Timestamp) string {
	return ts.Time().Format(stampTime) + "." + fmt.Sprintf(ordinalFmt, ts.I)
}

func parseStamp(s string) (optime.Timestamp, bool) {
	if len(s) != stampLen || s[len(stampTime)] != '.' {
		return optime.Timestamp{}, false
	}
	t, ok := parseExact(stampTime, s[:len(stampTime)])
	if !ok || t.Unix() < 0 || t.Unix() > 1<<32-1 {
		return optime.Timestamp{}, false
	}
	ord := s[len(stampTime)+1:]
	if strings.Trim(ord, "0123456789") != "" {
		return optime.Timestamp{}, false
	}
	i, err := strconv.ParseUint(ord, 10, 32)
	if err != nil {
		return optime.Timestamp{}, false
	}
	return optime.Timestamp{T: uint32(t.Unix()), I: uint32(i)}, true
}

// timeOf is for messages: the RFC 3339 time of ts.
func timeOf(ts optime.Timestamp) string { return ts.Time().Format(time.RFC3339) }
