package dump

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A restore killed outright (kill -9, a node lost) cannot clean up after itself, and the
// server may not notice for a while: an insert it had sent goes on running, and on MongoDB
// and FerretDB alike an insert into a collection that no longer exists creates it again.
// So the next restore, having dropped the temporary collections it found, makes sure the
// old run's writes are over before it goes on and once more after its own swap.
const (
	// leftoverQuiet is how long the dropped temporaries of a database must stay gone before
	// the restore trusts that nothing of the interrupted run is still writing them. One
	// insert command is what a dead client can have in flight per connection; a few seconds
	// outlast one batch on a busy server.
	leftoverQuiet = 5 * time.Second
	// leftoverPoll is how often the database is listed meanwhile.
	leftoverPoll = 250 * time.Millisecond
	// leftoverSettleLimit bounds the wait for temporaries that keep coming back; past it the
	// restore goes on (with a warning), and its re-check after the swap drops them again.
	leftoverSettleLimit = 2 * time.Minute
)

// clearLeftovers ends what interrupted restores left in db under the temporary names
// found: it stops the server's operations still writing into them where the server lets
// it ($currentOp and killOp: MongoDB; FerretDB v1 and v2 have no killOp), drops them, and
// waits until no temporary collection has reappeared in db for leftoverQuiet.
func (rs *restorer) clearLeftovers(ctx context.Context, db string, names []string) {
	if len(names) == 0 {
		return
	}
	rs.killOperationsOn(ctx, db, names)
	for _, n := range names {
		rs.dropLeftover(ctx, db, n)
	}
	rs.awaitTemporariesGone(ctx, db)
}

// awaitTemporariesGone lists db until it has held no temporary collection for
// leftoverQuiet, dropping (and stopping the writers of) any that reappears.
func (rs *restorer) awaitTemporariesGone(ctx context.Context, db string) {
	deadline := time.Now().Add(leftoverSettleLimit)
	quietSince := time.Now()
	for time.Since(quietSince) < leftoverQuiet {
		if time.Now().After(deadline) {
			rs.log.Warn("temporary collections of an interrupted restore keep coming back; going on (they are dropped again after the swap)", "database", db)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(leftoverPoll):
		}
		back, err := rs.temporariesIn(ctx, db)
		if err != nil || len(back) == 0 {
			continue // a failed listing proves nothing either way: the next one decides
		}
		rs.log.Warn("a temporary collection of an interrupted restore came back after it was dropped: an insert of that restore was still running on the server; dropping it again",
			"database", db, "collections", back)
		rs.killOperationsOn(ctx, db, back)
		for _, n := range back {
			rs.dropLeftover(ctx, db, n)
		}
		quietSince = time.Now()
	}
}

// finishChecked is finish, then, once the restore succeeded, recheckLeftovers: an
// interrupted run's insert may have landed while this restore ran.
func (rs *restorer) finishChecked(ctx context.Context) error {
	if err := rs.finish(ctx); err != nil {
		return err
	}
	rs.recheckLeftovers(ctx)
	return nil
}

// recheckLeftovers runs after a successful restore, when none of its own temporaries is
// left: any temporary collection in a target database now belongs to an interrupted run
// whose write landed while this one ran, and is cleared like those found at the start.
func (rs *restorer) recheckLeftovers(ctx context.Context) {
	for _, db := range rs.targetDatabases() {
		names, err := rs.temporariesIn(ctx, db)
		if err != nil {
			rs.log.Warn("could not check the target database for temporary collections after the restore", "database", db, "error", err)
			continue
		}
		if len(names) > 0 {
			rs.log.Warn("found temporary collections of an interrupted restore after the swap: an insert of that restore was still running on the server; dropping them",
				"database", db, "collections", names)
		}
		rs.clearLeftovers(ctx, db, names)
	}
}

// temporariesIn lists the temporary collections in db.
func (rs *restorer) temporariesIn(ctx context.Context, db string) ([]string, error) {
	names, err := rs.client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if IsTemporary(n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// dropLeftover drops a temporary collection of an earlier restore. Failing to is not fatal:
// the collection is only ever a copy of backup data.
func (rs *restorer) dropLeftover(ctx context.Context, db, name string) {
	wctx, cancel := writeContext(ctx)
	defer cancel()
	if err := rs.client.Database(db).Collection(name).Drop(wctx); err != nil {
		rs.log.Warn("could not drop a temporary collection left by an interrupted restore", "namespace", db+"."+name, "error", err)
		return
	}
	if !slices.Contains(rs.leftovers, db+"."+name) {
		rs.leftovers = append(rs.leftovers, db+"."+name)
	}
	rs.log.Warn("dropped a temporary collection left by an interrupted restore", "namespace", db+"."+name)
}

// killOperationsOn stops the server's operations on the given collections of db, where
// the server lists them ($currentOp) and lets them be killed (killOp). Temporary names are
// random per run, so an operation on one is the interrupted run's. A server without either
// (FerretDB v1 answers currentOp with nothing and has no killOp; FerretDB v2 lists its
// PostgreSQL backends without namespaces and has no killOp) leaves the waiting alone to
// decide.
func (rs *restorer) killOperationsOn(ctx context.Context, db string, names []string) {
	nss := bson.A{}
	for _, n := range names {
		nss = append(nss, db+"."+n)
	}
	ops, err := rs.operationsOn(ctx, nss, true)
	if err != nil {
		// Every user's operations need the inprog privilege; the user's own (those of an
		// interrupted run with the same credentials) need none.
		ops, err = rs.operationsOn(ctx, nss, false)
	}
	if err != nil {
		rs.log.Debug("the server does not list its operations; waiting for the temporaries to stay gone instead", "error", err)
		return
	}
	for _, id := range operationIDs(ops) {
		err := rs.client.Database("admin").RunCommand(ctx, bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: id}}).Err()
		if err != nil {
			rs.log.Info("could not stop an operation of an interrupted restore; waiting for it instead", "op", id.String(), "error", err)
			continue
		}
		rs.log.Warn("stopped an operation of an interrupted restore that was still running on the server", "op", id.String())
	}
}

// operationsOn lists the server's operations on the namespaces nss ($currentOp).
func (rs *restorer) operationsOn(ctx context.Context, nss bson.A, allUsers bool) ([]bson.Raw, error) {
	pipeline := mongo.Pipeline{
		{{Key: "$currentOp", Value: bson.D{{Key: "allUsers", Value: allUsers}}}},
		{{Key: "$match", Value: bson.D{{Key: "ns", Value: bson.D{{Key: "$in", Value: nss}}}}}},
	}
	cur, err := rs.client.Database("admin").Aggregate(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var ops []bson.Raw
	for cur.Next(ctx) {
		ops = append(ops, append(bson.Raw(nil), cur.Current...))
	}
	return ops, cur.Err()
}

// operationIDs are the opid values of $currentOp documents, as the server gave them (a
// number on a replica set, a "shard:number" string through mongos), for killOp.
func operationIDs(ops []bson.Raw) []bson.RawValue {
	var out []bson.RawValue
	for _, op := range ops {
		id, err := op.LookupErr("opid")
		if err != nil {
			continue
		}
		if s, ok := id.StringValueOK(); ok && s == "" {
			continue
		}
		out = append(out, id)
	}
	return out
}
