package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/pitr"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

// `verify --oplog` reads every complete oplog chunk back and checks it against its
// manifest (stored size and SHA-256, plain size, CRC-32C, entry count, range and order),
// as `restore --to-time` would, writing nothing: damage is found while there is still time
// to take a new base backup, not at the restore that needs the chunk.

// errChunksDamaged is returned when verify --oplog found damaged chunks.
var errChunksDamaged = errors.New("oplog chunks damaged")

func (c *verifyCmd) verifyOplog(ctx context.Context, a *app, ids *stream.Identities) error {
	store, err := c.Store.open(ctx, a)
	if err != nil {
		return err
	}
	oc, err := catalog.ReadOplogCatalog(ctx, store, c.Store.Prefix)
	if err != nil {
		return err
	}
	chunks := oc.Complete()
	if len(chunks) == 0 {
		return fmt.Errorf("verify --oplog: no complete oplog chunk under %s%s: nothing to verify (is `mongostash pitr` archiving to this store and prefix?)", c.Store.Prefix, catalog.OplogFolder)
	}
	start := time.Now()
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "CHUNK\tENTRIES\tBYTES\tSTATE")
	var damaged []string
	var entries, bytes int64
	for _, ch := range chunks {
		st, err := pitr.ReadChunk(ctx, store, ids, ch, ch.Since, ch.Until, func(bson.Raw) error { return nil })
		switch {
		case errors.Is(err, pitr.ErrChunkDamaged):
			damaged = append(damaged, ch.Key)
			fmt.Fprintf(tw, "%s\t%d\t%d\tDAMAGED: %v\n", ch.Key, ch.Manifest.Entries, ch.Size, err)
			continue
		case errors.Is(err, storage.ErrNotFound):
			// The oplog index describes it, the store no longer holds it (deleted by hand).
			damaged = append(damaged, ch.Key)
			fmt.Fprintf(tw, "%s\t%d\t%d\tMISSING: the oplog index describes it, the store does not hold it\n", ch.Key, ch.Manifest.Entries, ch.Size)
			continue
		case err != nil:
			tw.Flush()
			return fmt.Errorf("verify --oplog: %s: %w", ch.Key, chunkHint(err))
		}
		entries, bytes = entries+st.Entries, bytes+st.StoredBytes
		fmt.Fprintf(tw, "%s\t%d\t%d\tok\n", ch.Key, st.Entries, st.StoredBytes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	a.log.Info("oplog chunks verified", "chunks", len(chunks), "damaged", len(damaged), "entries", entries, "bytes", bytes,
		"incomplete_chunks", len(oc.Incomplete()), "read_through_index", oc.Index.Used, "duration_seconds", daemon.Seconds(time.Since(start)))
	if len(damaged) > 0 {
		return fmt.Errorf("verify --oplog: %w: %d of %d do not match their manifests (%s): restores to times after the first of them fail; take a new base backup so that later times are restorable again",
			errChunksDamaged, len(damaged), len(chunks), strings.Join(damaged, ", "))
	}
	return nil
}
