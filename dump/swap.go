package dump

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// swapAll moves every temporary collection onto its target, once the whole archive has
// proved good. Each swap keeps a way back: with dropTarget where the server has it, else
// by renaming the old collection aside first, so that at no moment is neither the old
// nor the new data in the database.
func (rs *restorer) swapAll(ctx context.Context) error {
	for _, st := range rs.sortedStates() {
		if st.coll == st.t.coll {
			continue
		}
		if err := rs.swap(ctx, st); err != nil {
			return err
		}
		st.coll = st.t.coll
		rs.swapped = append(rs.swapped, st.t.namespace())
	}
	return nil
}

func (rs *restorer) swap(ctx context.Context, st *nsState) error {
	t := st.t
	db := rs.client.Database(t.db)
	if st.t.kind == kindTimeseries {
		return fmt.Errorf("restore %s: replacing an existing time-series collection is not supported yet", t.namespace())
	}
	if !rs.existing[t.namespace()] {
		return rs.rename(ctx, t.db, st.coll, t.coll, false)
	}
	if err := rs.rename(ctx, t.db, st.coll, t.coll, true); err == nil {
		return nil
	}
	// No dropTarget (FerretDB v1): rename the old collection aside, the new one in, then
	// drop the old one.
	aside := temporaryName()
	if err := rs.rename(ctx, t.db, t.coll, aside, false); err != nil {
		return fmt.Errorf("restore %s: move the existing collection aside: %w", t.namespace(), err)
	}
	if err := rs.rename(ctx, t.db, st.coll, t.coll, false); err != nil {
		if back := rs.rename(ctx, t.db, aside, t.coll, false); back != nil {
			return fmt.Errorf("restore %s: swap in: %v; and moving the old collection back from %s.%s failed: %w", t.namespace(), err, t.db, aside, back)
		}
		return fmt.Errorf("restore %s: swap in: %w", t.namespace(), err)
	}
	if err := db.Collection(aside).Drop(ctx); err != nil {
		rs.log.Warn("could not drop the replaced collection", "namespace", t.db+"."+aside, "error", err)
	}
	return nil
}

func (rs *restorer) rename(ctx context.Context, db, from, to string, dropTarget bool) error {
	cmd := bson.D{{Key: "renameCollection", Value: db + "." + from}, {Key: "to", Value: db + "." + to}}
	if dropTarget {
		cmd = append(cmd, bson.E{Key: "dropTarget", Value: true})
	}
	return rs.client.Database("admin").RunCommand(ctx, cmd).Err()
}

// dropTemporaries removes what a failed --drop restore wrote: the temporary collections
// of existing targets, and the targets it created itself. Collections that existed before
// are never touched.
func (rs *restorer) dropTemporaries(ctx context.Context) {
	if rs.client == nil {
		return
	}
	for _, st := range rs.sortedStates() {
		if st.t.kind == kindView || (st.coll == st.t.coll && !st.created) || rs.existing[st.t.db+"."+st.coll] {
			continue
		}
		db := rs.client.Database(st.t.db)
		if err := db.Collection(st.coll).Drop(ctx); err != nil {
			rs.log.Warn("could not drop a temporary collection", "namespace", st.t.db+"."+st.coll, "error", err)
		}
		if st.t.kind == kindTimeseries {
			_ = db.Collection("system.buckets." + st.coll).Drop(ctx)
		}
	}
}
