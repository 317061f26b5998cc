// Package dump moves MongoDB data to and from the mongodump archive stream: Dump reads
// collections and indexes through the official driver into an archive.Writer, Restore
// decodes an archive.Reader and bulk-inserts through the driver. It also holds the external
// mongo-tools fallback.
//
// It must never decode user documents (they pass through as raw BSON), never touch the
// local disk, and never know where a stream is stored: the caller hands it readers and
// writers. Its errors speak of databases, collections and options, never of the CLI's flags
// or environment variables: the caller adds those hints.
package dump
