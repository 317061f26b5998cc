// Package optime is a point in the oplog: the oplog timestamp (seconds since the Unix
// epoch and an ordinal within that second) that orders a replica set's oplog, and the one
// parser of the points people give on the command line.
//
// A point a person gives is a bound with one of two rules, named in the code where it is
// read and in the flags' help:
//   - UpTo (inclusive, `restore --to-time`): replay every entry at or before it. A time —
//     RFC 3339, with or without a fraction and an offset, or a bare count of seconds —
//     includes every entry of its second; "<seconds>,<ordinal>" includes exactly that
//     entry; "latest" is the newest point the archive reaches, which the caller resolves.
//   - Before (exclusive, `restore --oplog-limit`, as mongorestore's --oplogLimit):
//     replay only the entries strictly before it. A time excludes every entry of its
//     second; "<seconds>,<ordinal>" excludes that entry and every later one.
//
// Oplog timestamps have whole seconds, so a fraction of a second is cut off under both
// rules. MongoDB's own OpTime adds the election term to the timestamp; one replica set's
// oplog is ordered by the timestamp alone, which is all this package holds.
//
// It must never import anything of ours or a MongoDB driver: the catalog, which must not
// know MongoDB, orders its chunks and windows by it, and the oplog package converts it at
// the driver's edge.
package optime
