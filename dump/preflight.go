package dump

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrCannotReplace: with Drop, some existing collections could not be swapped for their
// restored copies on this server; the restore stops before writing anything.
var ErrCannotReplace = errors.New("dump: these existing collections cannot be replaced on this server")

// existingNamespace is a collection or view found in a target database before the restore.
type existingNamespace struct {
	view bool
	info bson.Raw // the listCollections answer, kept for views (to recreate them on rollback)
}

// prepare learns what the target databases hold, cleans up after earlier interrupted
// restores, and refuses up front what cannot work — before any data is read or written.
func (rs *restorer) prepare(ctx context.Context) error {
	rs.existing = map[string]bool{}
	rs.existingInfo = map[string]existingNamespace{}
	if rs.client == nil {
		return nil
	}
	for _, db := range rs.targetDatabases() {
		if err := rs.listExisting(ctx, db); err != nil {
			return err
		}
	}
	if !rs.opts.Drop {
		for _, t := range rs.plan.targets {
			if t.kind == kindTimeseries && rs.existing[t.namespace()] {
				return fmt.Errorf("restore %s into %s: %w", t.source, t.namespace(), ErrTimeseriesExists)
			}
		}
		return nil
	}
	return rs.preflight(ctx)
}

// targetDatabases lists, sorted, the databases collections are restored into.
func (rs *restorer) targetDatabases() []string {
	seen := map[string]bool{}
	var dbs []string
	for _, t := range rs.plan.targets {
		if t.isCollection() && !seen[t.db] {
			seen[t.db] = true
			dbs = append(dbs, t.db)
		}
	}
	sort.Strings(dbs)
	return dbs
}

// listExisting records the collections and views of db, clears the temporary collections an
// interrupted restore left there (clearLeftovers), and reports collections one left aside.
func (rs *restorer) listExisting(ctx context.Context, db string) error {
	cur, err := rs.client.Database(db).ListCollections(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections of %s: %w", db, err)
	}
	defer cur.Close(ctx)
	var temporaries []string
	for cur.Next(ctx) {
		name, _ := cur.Current.Lookup("name").StringValueOK()
		typ, _ := cur.Current.Lookup("type").StringValueOK()
		switch {
		case IsTemporary(name):
			temporaries = append(temporaries, name)
			continue
		case IsAside(name):
			rs.asideFound = append(rs.asideFound, db+"."+name)
			rs.log.Warn("found a collection an interrupted restore --drop moved aside: it may hold the only copy of the data it replaced, so it is left alone; rename it back or drop it by hand",
				"namespace", db+"."+name)
		}
		rs.existing[db+"."+name] = true
		rs.existingInfo[db+"."+name] = existingNamespace{view: typ == "view", info: append(bson.Raw(nil), cur.Current...)}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("list collections of %s: %w", db, err)
	}
	rs.clearLeftovers(ctx, db, temporaries)
	return nil
}

// preflight proves, before anything is written, that every existing target can be swapped
// for its restored copy: no existing time-series collection (not supported yet), and in
// every database with a swap, the renames the swap makes work on this server with these
// credentials — probed on scratch collections, with and without a dot in the name when a
// target has one.
func (rs *restorer) preflight(ctx context.Context) error {
	var problems []string
	byDB := map[string][]string{} // database -> existing targets to swap by renaming
	for _, t := range rs.sortedTargets() {
		if !t.isCollection() || !rs.existing[t.namespace()] {
			continue
		}
		ex := rs.existingInfo[t.namespace()]
		switch {
		case t.kind == kindTimeseries:
			problems = append(problems, t.namespace()+": replacing an existing time-series collection is not supported yet")
		case t.kind == kindView && ex.view:
			// a view replaced by a view: dropped and created, no rename
		default:
			byDB[t.db] = append(byDB[t.db], t.coll)
		}
	}
	dbs := make([]string, 0, len(byDB))
	for db := range byDB {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	for _, db := range dbs {
		problems = append(problems, rs.probeDatabase(ctx, db, byDB[db])...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w, so nothing was written: %s", ErrCannotReplace, strings.Join(problems, "; "))
	}
	return nil
}

// probeDatabase tries, on scratch collections in db, the renames a swap of colls makes, and
// returns one problem per refused kind of rename, naming the collections it concerns.
func (rs *restorer) probeDatabase(ctx context.Context, db string, colls []string) []string {
	names := func(cs []string) string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = db + "." + c
		}
		return strings.Join(out, ", ")
	}
	if err := rs.probeRename(ctx, db, false); err != nil {
		return []string{fmt.Sprintf("%s: renaming collections in database %s failed (missing privileges?): %v", names(colls), db, err)}
	}
	var dotted []string
	for _, c := range colls {
		if strings.Contains(c, ".") {
			dotted = append(dotted, c)
		}
	}
	if len(dotted) == 0 {
		return nil
	}
	if err := rs.probeRename(ctx, db, true); err != nil {
		return []string{fmt.Sprintf("%s: this server cannot rename collections whose names contain a dot (it answered: %v)", names(dotted), err)}
	}
	return nil
}

// probeRename creates a scratch collection, renames it and back the way a swap would (a
// dotted name to a plain one and back when dotted), and drops it.
func (rs *restorer) probeRename(ctx context.Context, db string, dotted bool) (err error) {
	d := rs.client.Database(db)
	first, second := temporaryName(), temporaryName()
	if dotted {
		first += ".probe"
	}
	wctx, cancel := writeContext(ctx)
	defer cancel()
	defer func() {
		for _, n := range []string{first, second} {
			if derr := d.Collection(n).Drop(wctx); derr != nil && err == nil {
				err = fmt.Errorf("drop scratch collection %s: %w", n, derr)
			}
		}
	}()
	if err := d.CreateCollection(wctx, first); err != nil {
		return fmt.Errorf("create scratch collection %s: %w", first, err)
	}
	if err := rs.renameCollection(wctx, db, first, second); err != nil {
		return err
	}
	return rs.renameCollection(wctx, db, second, first)
}

func (rs *restorer) sortedTargets() []*target {
	out := make([]*target, 0, len(rs.plan.targets))
	for _, t := range rs.plan.targets {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].namespace() < out[j].namespace() })
	return out
}

func (rs *restorer) renameCollection(ctx context.Context, db, from, to string) error {
	cmd := bson.D{{Key: "renameCollection", Value: db + "." + from}, {Key: "to", Value: db + "." + to}}
	return rs.client.Database("admin").RunCommand(ctx, cmd).Err()
}

// serverAnswered reports an error that is the server's refusal, after which the server is
// still there to talk to (unlike a lost connection or a timeout).
func serverAnswered(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && !ce.HasErrorLabel("NetworkError")
}
