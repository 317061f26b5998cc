package dump

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// checkTemporaries proves, before the swap, that every restored copy is still the
// collection this restore created and filled: a temporary collection dropped meanwhile (by
// a concurrent restore taking it for a leftover) and re-created by a later insert would
// otherwise be swapped in with part of its data. The proof is the collection's UUID, which
// a re-creation changes (one listCollections per database); only where the server gives no
// UUID are the copy's documents counted, which FerretDB v1 does by reading them all.
func (rs *restorer) checkTemporaries(ctx context.Context) error {
	if rs.replayed() {
		return nil // the oplog replay may drop and create collections itself
	}
	byDB := map[string][]*nsState{}
	for _, st := range rs.sortedStates() {
		if st.coll != st.t.coll && st.t.isCollection() && st.t.kind != kindView {
			byDB[st.t.db] = append(byDB[st.t.db], st)
		}
	}
	for db, states := range byDB {
		names := make([]string, len(states))
		for i, st := range states {
			names[i] = st.coll
		}
		now, err := collectionUUIDs(ctx, rs.client.Database(db), names)
		if err != nil {
			return fmt.Errorf("restore: check the restored copies in %s: %w", db, err)
		}
		for _, st := range states {
			if err := rs.checkCopy(ctx, st, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCopy checks one restored copy against the UUIDs its database lists now.
func (rs *restorer) checkCopy(ctx context.Context, st *nsState, now map[string]string) error {
	changed := func(how string) error {
		return fmt.Errorf("restore %s: the restored copy %s.%s %s: it was changed during the restore (does another restore write into this database?)",
			st.t.namespace(), st.t.db, st.coll, how)
	}
	if st.uuid != "" {
		switch uuid, ok := now[st.coll]; {
		case !ok:
			return changed("is gone")
		case uuid != st.uuid:
			return changed("was dropped and created again")
		}
		return nil
	}
	n, err := rs.client.Database(st.t.db).Collection(st.coll).EstimatedDocumentCount(ctx)
	if err != nil {
		return fmt.Errorf("restore %s: count the restored copy %s: %w", st.t.namespace(), st.coll, err)
	}
	if want := st.inserted.Load(); n != want {
		return changed(fmt.Sprintf("holds %d documents, %d were inserted", n, want))
	}
	return nil
}

// collectionUUIDs returns the UUIDs (info.uuid) of the named collections of db that exist
// and have one, as strings of their bytes.
func collectionUUIDs(ctx context.Context, db *mongo.Database, names []string) (map[string]string, error) {
	out := map[string]string{}
	cur, err := db.ListCollections(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$in", Value: names}}}})
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		name, _ := cur.Current.Lookup("name").StringValueOK()
		if _, data, ok := cur.Current.Lookup("info", "uuid").BinaryOK(); ok && len(data) > 0 {
			out[name] = string(data)
		}
	}
	return out, cur.Err()
}
