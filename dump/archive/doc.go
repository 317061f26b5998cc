// Package archive reads and writes the single-stream container produced by
// `mongodump --archive` and consumed by `mongorestore --archive`, byte for byte
// as mongo-tools 100.x does (see docs/archive-format.md).
//
// A Writer takes a Prelude (header and one Entry per namespace) and then the
// documents of many namespaces, possibly from several goroutines at once, and
// multiplexes them into blocks the way mongodump does, ending each namespace
// with an EOF block that carries the CRC-64/ECMA of its documents. A Reader
// parses the prelude, demultiplexes the blocks, verifies every namespace's CRC
// and reports per-namespace statistics. ParseMetadata and FormatMetadata
// convert the metadata JSON stored in prelude entries.
//
// The package knows only bytes and BSON. It must never open a connection or do
// I/O beyond the io.Reader and io.Writer it is given, and it must never decode
// or re-encode user documents: collection documents and oplog entries pass
// through as raw bytes, checked only for their length prefix and trailing
// null byte. The only BSON it interprets is its own framing (archive header,
// collection entries, namespace headers) and the metadata JSON.
package archive
