package dump

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/oplog"
)

// OplogNamespace is how an archive names its oplog (database "", collection "oplog"),
// in its statistics and in manifests.
const OplogNamespace = ".oplog"

// oplogEntry is the prelude entry of the oplog, as mongodump writes it.
var oplogEntry = archive.Entry{DB: "", Collection: "oplog"}

// beginOplog starts the oplog capture of a dump. It runs before any collection is
// listed or read, as mongodump takes its start.
func beginOplog(ctx context.Context, client *mongo.Client, opts DumpOptions) (*oplog.Capture, error) {
	if !opts.Oplog {
		return nil, nil
	}
	copts := oplog.CaptureOptions{Databases: opts.Databases, Logger: opts.Logger}
	// A restore's temporary collections are never backed up, nor their writes.
	copts.Namespaces = func(n string) bool {
		_, coll := ns.Split(n)
		if IsTemporary(coll) || IsAside(coll) {
			return false
		}
		return opts.Filter == nil || opts.Filter.Match(logicalNamespace(n))
	}
	c, err := oplog.BeginCapture(ctx, client, copts)
	if err != nil {
		return nil, fmt.Errorf("dump: oplog: %w", err)
	}
	return c, nil
}

// logicalNamespace is the name filters know a namespace by: a time-series collection's
// buckets ("db.system.buckets.X", where its writes are logged) are "db.X".
func logicalNamespace(n string) string {
	db, coll := ns.Split(n)
	if rest, ok := strings.CutPrefix(coll, "system.buckets."); ok {
		return db + "." + rest
	}
	return n
}

// dumpOplog takes the end of the captured range, now that every collection is read, and
// writes the range as the archive's last namespace.
func dumpOplog(ctx context.Context, aw *archive.Writer, c *oplog.Capture) (NamespaceStats, oplog.CaptureStats, error) {
	st := NamespaceStats{Namespace: OplogNamespace}
	if _, err := c.End(ctx); err != nil {
		return st, oplog.CaptureStats{}, fmt.Errorf("dump: oplog: %w", err)
	}
	nw, err := aw.Open(ctx, oplogEntry.DB, oplogEntry.Collection)
	if err != nil {
		return st, oplog.CaptureStats{}, fmt.Errorf("dump: oplog: %w", err)
	}
	cs, err := c.Copy(ctx, nw)
	if err != nil {
		return st, cs, fmt.Errorf("dump: oplog: %w", err)
	}
	if err := nw.Close(); err != nil {
		return st, cs, fmt.Errorf("dump: oplog: %w", err)
	}
	st.Documents, st.Bytes, st.CRC = nw.Count(), cs.Bytes, nw.CRC()
	return st, cs, nil
}
