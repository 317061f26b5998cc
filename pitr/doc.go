// Package pitr archives a server's oplog to the object store for point-in-time recovery:
// the Archiver behind `mongostash pitr` reads local.oplog.rs by polling and writes it as a
// sequence of chunk objects whose names (package catalog) give their timestamp ranges.
//
// The rules it keeps are the backups' rules, applied to a stream that never ends:
//   - A chunk is complete only once its manifest is written, after the chunk object; an
//     upload that fails leaves no manifest, its object is deleted, and the same range is
//     uploaded again.
//   - Chunks of a chain meet exactly: each one's Since is the Until of the one before, so
//     no entry is archived twice or skipped at a boundary, across restarts too (the
//     archiver resumes from what the store says, never from local state).
//   - When the oplog no longer holds the entries after the last archived one, the loss is
//     recorded in a gap marker, logged at error and reported in Status; archiving goes on
//     in a new chain from the oldest entry left.
//   - One archiver per prefix: Run holds the prefix's lease (lease.go) and writes nothing
//     without it; the lease is renewed right before each manifest, and every write stops
//     once the lease went unrenewed for half its time to live.
//   - Each chunk is taken into the oplog folder's index once complete (catalog's
//     UpdateOplogIndex), so that readers need not read every manifest.
//
// Reading the chunks back is chunkreader.go's part. This package must never read flags or
// the environment; the CLI gives it a store, a client and Options.
package pitr
