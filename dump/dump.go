package dump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/oplog"
)

// DumpOptions says what Dump reads and how.
type DumpOptions struct {
	Databases     []string        // empty: every database but local (and config, see IncludeConfig)
	IncludeConfig bool            // with Databases empty, dump the config database too
	Filter        NamespaceFilter // nil: every namespace
	Parallel      int             // cursors reading at once, shared by all collections; default 4
	SplitBytes    int64           // a collection of at least this size (collStats) is read in Parallel _id ranges at once; 0: never
	AllowEmpty    bool            // succeed when there is nothing to dump
	UsersAndRoles bool            // also dump users and roles (admin's, or the database's own)
	Oplog         bool            // capture the oplog around the dump: the backup is consistent at its end
	ToolVersion   string          // written as the archive's tool_version
	Progress      *Progress       // optional live counters
	Logger        *slog.Logger

	// Tests only: splitWithoutIndex splits even where the server reads _id ranges without
	// an index (FerretDB v1, the test bed), so that split reads are tested there too;
	// rangeStarted is called by every range's cursor after its first document.
	splitWithoutIndex bool
	rangeStarted      func(namespace string, cursorID int64)
}

// NamespaceStats is what was dumped or restored for one namespace.
type NamespaceStats struct {
	Namespace string
	Documents int64
	Bytes     int64
	CRC       uint64
	Failed    int64 // restore only: documents the server refused
}

// DumpStats is what Dump wrote.
type DumpStats struct {
	ServerVersion string
	Databases     []string
	Namespaces    []NamespaceStats // sorted by namespace
	Documents     int64
	Bytes         int64               // uncompressed BSON bytes of documents
	Oplog         *oplog.CaptureStats // the captured oplog range, nil without Oplog
}

// cursorBatchDocs is the largest batch size of the dump's cursors.
const cursorBatchDocs = 2000

// cursorBatchBytes is about how much one cursor reply holds: a backup reads Parallel
// collections at once, and the driver keeps each cursor's current reply in memory.
const cursorBatchBytes = 2 << 20

// cursorBatch is the batch size for c's cursor: about cursorBatchBytes of documents of the
// average size collStats gave, at most cursorBatchDocs. Without it, 2,000 documents of
// 10 KB would make every reply 16 MiB (the server's cap).
func cursorBatch(c collectionInfo) int32 {
	if c.estimate <= 0 || c.size <= 0 {
		return cursorBatchDocs
	}
	avg := max(1, c.size/c.estimate)
	return int32(max(1, min(cursorBatchDocs, cursorBatchBytes/avg)))
}

// dumpChunkSize is the per-collection buffer of the archive writer.
const dumpChunkSize = 1 << 20

// ErrNothingToDump means the selected databases hold no collection to back up.
var ErrNothingToDump = errors.New("dump: nothing to back up: no collection matched the selected databases and namespace filters")

// Dump reads the selected databases through client and writes them to w as a mongodump
// archive. Documents go from the cursor's raw bytes straight into the archive: nothing
// is decoded. On error the archive written so far is incomplete and must be discarded.
func Dump(ctx context.Context, client *mongo.Client, w io.Writer, opts DumpOptions) (DumpStats, error) {
	opts = opts.withDefaults()
	capture, err := beginOplog(ctx, client, opts)
	if err != nil {
		return DumpStats{}, err
	}
	p, err := planDump(ctx, client, opts)
	if err != nil {
		return DumpStats{}, err
	}
	// 1 MiB chunks instead of mongodump's 16 MiB: only block boundaries change (they carry
	// no meaning), and Parallel buffers of 16 MiB would dominate the memory of a backup.
	aw := archive.NewWriterSize(w, dumpChunkSize)
	if err := aw.WritePrelude(p.prelude(opts)); err != nil {
		return p.stats(nil), fmt.Errorf("write archive prelude: %w", err)
	}
	opts.Logger.Info("dumping", "server_version", p.version, "databases", len(p.dbs), "collections", len(p.colls))
	results, err := dumpAuth(ctx, client, aw, p.auth, opts.Progress)
	if err != nil {
		return p.stats(nil), err
	}
	colls, err := dumpCollections(ctx, client, aw, p.colls, opts)
	if err != nil {
		return p.stats(nil), err
	}
	stats := p.stats(append(results, colls...))
	if capture != nil {
		ons, cs, err := dumpOplog(ctx, aw, capture)
		if err != nil {
			return stats, err
		}
		stats.Namespaces, stats.Oplog = append(stats.Namespaces, ons), &cs
		opts.Logger.Info("oplog captured", "entries", cs.Entries, "read", cs.Read, "start", cs.Start.String(), "end", cs.End.String(),
			"duration", cs.Duration.Round(time.Millisecond).String())
	}
	if err := aw.Close(); err != nil {
		return stats, fmt.Errorf("finish archive: %w", err)
	}
	return stats, nil
}

func (o DumpOptions) withDefaults() DumpOptions {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// copyCollection streams the documents of coll matching filter as raw bytes into nw, and
// returns how many bytes it wrote. find must set a batch size: without one, servers fill
// each reply up to 16 MiB, and the driver holds a reply while the next arrives — memory
// that would grow with the collection's size up to 32 MiB per collection dumped at once.
func copyCollection(ctx context.Context, coll *mongo.Collection, filter bson.D, find *options.FindOptionsBuilder, nw docWriter, progress *nsProgress) (int64, error) {
	cur, err := coll.Find(ctx, filter, find)
	if err != nil {
		return 0, fmt.Errorf("find in %s: %w", coll.Name(), err)
	}
	return copyCursor(ctx, cur, coll.Name(), nw, progress)
}

// docWriter takes raw documents: an archive.NamespaceWriter, or an archive.Part.
type docWriter interface {
	Write(doc []byte) error
}

// copyCursor writes every document of cur to nw and closes it; see copyCollection.
func copyCursor(ctx context.Context, cur *mongo.Cursor, name string, nw docWriter, progress *nsProgress) (int64, error) {
	defer cur.Close(context.WithoutCancel(ctx))
	var n int64
	for cur.Next(ctx) {
		if err := nw.Write(cur.Current); err != nil {
			return n, err
		}
		n += int64(len(cur.Current))
		progress.add(1, int64(len(cur.Current)))
	}
	if err := cur.Err(); err != nil {
		return n, fmt.Errorf("read %s: %w", name, err)
	}
	return n, nil
}
