// Package dump moves MongoDB data to and from the mongodump archive stream: Dump reads
// collections and indexes through the official driver into an archive.Writer, Restore
// decodes an archive.Reader and bulk-inserts through the driver. It also holds the external
// mongo-tools fallback.
//
// It must never decode user documents (they pass through as raw BSON) and never know where
// a stream is stored: the caller hands it readers and writers. The data never goes
// through the local disk; two temporary files are the only things dump writes there, each
// removed once used (a process killed meanwhile can leave it behind):
//   - the mongo-tools fallback hands the tools the password in a 0600 config file, never on
//     their command line (ToolOptions.TempDir, else the system's temporary directory);
//   - a restore's oplog replay keeps a transaction larger than 1 MiB in a temporary file of
//     the system's temporary directory until its commit entry (package oplog's spool), so
//     that memory stays bounded whatever the size of a transaction.
//
// Its errors speak of databases, collections and options, never of the CLI's flags or
// environment variables: the caller adds those hints.
package dump
