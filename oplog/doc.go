// Package oplog reads a replica set's oplog and replays it, on any server that speaks the
// protocol (FerretDB included).
//
// What it promises:
//   - Capture (BeginCapture, Capture.End, Capture.Copy) follows mongodump --oplog: the
//     range starts before the dump reads any collection (at the oldest transaction still
//     open, else the newest entry) and ends after the last one, both ends included, so
//     that the range replayed over the collections makes them consistent at its end. It
//     fails with ErrOverflow when the oplog rolled over the range's start, and with
//     ErrRefused on an entry no consistent backup can hold (a rename, a change of
//     admin.system.version, ...); a Selector keeps the entries of the namespaces asked for.
//   - Source reads local.oplog.rs in timestamp order (checked: ErrOrder), for captures and
//     for pitr's archive.
//   - Replayer applies every entry as plain CRUD and ordinary commands, never applyOps:
//     $v:2 diffs give the document the server's own applier gives (diff.go), transactions
//     are applied at their commit and dropped on abort, writes are batched per namespace
//     in timestamp order with the result of applying the entries one by one, and every
//     entry is idempotent, so entries a dump already reflects apply cleanly. Memory is
//     bounded by ReplayOptions' budgets whatever the size of the oplog. Its limit is a
//     Before bound (optime's exclusive rule); index commands can go to an IndexCatalog,
//     built once the replay is done.
//   - Whatever the bytes, the decoders (entries, diffs, applyOps) refuse what no server
//     wrote with an error wrapping one of this package's sentinels, never panic, and never
//     build more than a BSON document can hold (fuzz_test.go).
//
// What it never does: import anything of ours but optime, or know about archives, object
// stores, flags or the environment; write to the server it captures from; send applyOps;
// decode user documents into Go values (they stay raw BSON, edited byte by byte). It
// touches the local disk in one case only: a transaction larger than
// ReplayOptions.SpoolMemory (1 MiB by default) waits for its commit in a temporary file in
// ReplayOptions.SpoolDir (the system's temporary directory by default), removed once the
// transaction is applied or dropped.
//
// Its oplog timestamps are optime.Timestamp; timestamp.go is the only place that converts
// them to the driver's.
package oplog
