package dump

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/optime"
)

// The oplog of an archive comes after every collection (the archive format requires it),
// so Restore replays it as it reads it: once the first entry arrives, it waits until the
// collections' documents are in, then applies each entry through oplog.Replayer (plain
// CRUD, no applyOps). Memory stays bounded whatever the size of the oplog: entries are
// never gathered. The collections' indexes are built after the replay, as mongorestore
// does: a unique index could refuse the intermediate states of a dump read while it
// changed. With Drop, the replay writes into the temporary collections, before any swap.

// ErrNoOplogToReplay: the replay was required and the archive has no oplog.
var ErrNoOplogToReplay = errors.New("dump: the backup has no oplog to replay (it was made without one)")

// oplogReplay is the oplog side of one Restore.
type oplogReplay struct {
	replayer *oplog.Replayer
	indexes  *oplog.IndexCatalog
	started  bool
	skipped  string // why the entries are read but not applied, "" when they are
	stats    oplog.ReplayStats
}

// initOplog decides, from the plan, whether this restore replays an oplog.
func (rs *restorer) initOplog() error {
	has := false
	for _, t := range rs.plan.targets {
		has = has || t.kind == kindOplog
	}
	if !has && rs.opts.MoreOplog != nil {
		has = true // the extra entries are replayed onto an archive without an oplog
	}
	if !has {
		if rs.opts.OplogRequired && rs.opts.OplogReplay {
			return ErrNoOplogToReplay
		}
		return nil
	}
	rs.replay = &oplogReplay{indexes: oplog.NewIndexCatalog()}
	return nil
}

// replayed reports whether an oplog replay wrote into the targets.
func (rs *restorer) replayed() bool {
	return rs.replay != nil && rs.replay.replayer != nil && rs.replay.stats.Entries > 0
}

// replayWrote reports whether the replay wrote anything (a dry run writes nothing).
func (rs *restorer) replayWrote() bool {
	if rs.replay == nil || rs.client == nil {
		return false
	}
	st := rs.replay.stats
	return st.Inserts+st.Updates+st.Deletes+st.Commands > 0
}

// deferIndexes: the collections' indexes wait for the replay.
func (rs *restorer) deferIndexes() bool { return rs.replay != nil && rs.client != nil }

// replayRecord handles one record of the archive's oplog namespace.
func (rs *restorer) replayRecord(ctx context.Context, rec archive.Record) error {
	or := rs.replay
	if !or.started {
		or.started = true
		if err := rs.startReplay(ctx); err != nil {
			return err
		}
	}
	switch {
	case rec.EOF && rs.opts.MoreOplog != nil:
		return nil // the replay goes on with MoreOplog's entries (replayMore)
	case rec.EOF:
		return rs.endReplay(ctx)
	}
	return rs.applyEntry(ctx, rec.Doc)
}

// applyEntry replays one entry, or, without a replayer (dry run, or a restore that
// already failed), checks that it parses.
func (rs *restorer) applyEntry(ctx context.Context, doc bson.Raw) error {
	or := rs.replay
	if or.replayer == nil {
		if err := oplog.CheckEntry(doc); err != nil {
			return fmt.Errorf("oplog replay: %w", err)
		}
		or.stats.Entries++
		return nil
	}
	if err := or.replayer.Apply(ctx, doc); err != nil {
		return fmt.Errorf("oplog replay: %w", err)
	}
	return nil
}

// replayMore replays RestoreOptions.MoreOplog's entries after the archive's own oplog
// (starting the replay when the archive had none), then ends the replay.
func (rs *restorer) replayMore(ctx context.Context) error {
	or := rs.replay
	if !or.started {
		or.started = true
		if err := rs.startReplay(ctx); err != nil {
			return err
		}
	}
	if or.replayer == nil && or.skipped != "dry run" {
		return nil // the restore fails; Restore reports why
	}
	if err := rs.opts.MoreOplog(ctx, func(doc bson.Raw) error { return rs.applyEntry(ctx, doc) }); err != nil {
		return err
	}
	return rs.endReplay(ctx)
}

// startReplay waits for the collections' documents, then sets up the replayer.
func (rs *restorer) startReplay(ctx context.Context) error {
	if rs.client == nil {
		rs.replay.skipped = "dry run"
		return nil
	}
	rs.closeAll() // every namespace of the archive ended before its oplog
	if rs.wait() != nil || ctx.Err() != nil {
		rs.replay.skipped = "the restore failed"
		return nil // Restore reports why
	}
	if _, _, failed, _ := rs.results(); failed > 0 {
		rs.replay.skipped = "documents were refused"
		rs.log.Warn("the oplog is not replayed: documents were refused, so the restore fails")
		return nil
	}
	var known []string
	for dataNS, t := range rs.plan.targets {
		if t.isCollection() {
			known = append(known, dataNS)
		}
	}
	for _, st := range rs.sortedStates() {
		if st.t.meta == nil || rs.opts.NoIndex || st.t.kind == kindView {
			continue
		}
		if err := rs.replay.indexes.Add(st.t.db+"."+st.coll, st.t.meta.Indexes...); err != nil {
			return fmt.Errorf("restore %s: %w", st.t.namespace(), err)
		}
	}
	rs.replay.replayer = oplog.NewReplayer(rs.client, oplog.ReplayOptions{
		Target: rs.oplogTarget, Limit: rs.opts.OplogLimit, Indexes: rs.replay.indexes,
		Known: known, Logger: rs.log,
	})
	rs.log.Info("replaying the oplog", "limit", limitText(rs.opts.OplogLimit))
	return nil
}

func limitText(ts optime.Timestamp) string {
	if ts.IsZero() {
		return "none"
	}
	return ts.String()
}

// endReplay writes what the replayer holds, at the oplog's end.
func (rs *restorer) endReplay(ctx context.Context) error {
	or := rs.replay
	if or.replayer == nil {
		return nil
	}
	st, err := or.replayer.Close(ctx)
	or.stats = st
	if err != nil {
		return fmt.Errorf("oplog replay: %w", err)
	}
	rs.log.Info("oplog replayed", "entries", st.Entries, "inserts", st.Inserts, "updates", st.Updates,
		"deletes", st.Deletes, "commands", st.Commands, "transactions", st.Transactions, "skipped", st.Skipped,
		"first", st.First.String(), "last", st.Last.String(), "limit_reached", st.LimitReached)
	return nil
}

// finishOplog builds the indexes the replay deferred, and marks the temporary
// collections the replay dropped (the source dropped them during the backup).
func (rs *restorer) finishOplog(ctx context.Context) error {
	if !rs.deferIndexes() || rs.replay.replayer == nil {
		return nil
	}
	for _, target := range rs.replay.indexes.Namespaces() {
		if err := rs.replay.indexes.Build(ctx, rs.client, target); err != nil {
			return fmt.Errorf("restore: after the oplog replay: %w", err)
		}
	}
	for _, st := range rs.sortedStates() {
		if st.coll == st.t.coll || st.t.kind == kindView {
			continue
		}
		names, err := rs.client.Database(st.t.db).ListCollectionNames(ctx, bson.D{{Key: "name", Value: st.coll}})
		if err != nil {
			return fmt.Errorf("restore %s: %w", st.t.namespace(), err)
		}
		st.gone = len(names) == 0
	}
	return nil
}

// oplogTarget is where the entries of a source namespace go: the collection its archive
// namespace is restored into (a temporary one with Drop), or, for a namespace the archive
// does not hold (created during the backup), its target under the restore's filter and
// renames.
func (rs *restorer) oplogTarget(ctx context.Context, source string) (string, bool, error) {
	if t := rs.plan.targets[source]; t != nil {
		rs.mu.Lock()
		st := rs.states[source]
		rs.mu.Unlock()
		if st == nil || !t.isCollection() || t.kind == kindView {
			return "", false, nil
		}
		return t.db + "." + dataCollection(st), true, nil
	}
	if _, skipped := rs.plan.skipped[source]; skipped {
		return "", false, nil
	}
	return rs.newOplogTarget(ctx, source)
}

// dataCollection is the collection that holds a namespace's documents.
func dataCollection(st *nsState) string {
	if st.t.kind == kindTimeseries && st.t.dataColl != st.t.coll {
		return "system.buckets." + st.coll
	}
	return st.coll
}

// newOplogTarget places a namespace that only the oplog knows, as makePlan places the
// archive's: filter and renames on its logical name; with Drop, a temporary collection
// when the target exists, so that it is swapped in with the others.
func (rs *restorer) newOplogTarget(ctx context.Context, source string) (string, bool, error) {
	logical := logicalNamespace(source)
	if _, coll := ns.Split(logical); IsTemporary(coll) || IsAside(coll) {
		return "", false, nil // another restore's work in progress, never data
	}
	if rs.opts.Filter != nil && !rs.opts.Filter.Match(logical) {
		return "", false, nil
	}
	dest := logical
	if rs.opts.Renamer != nil {
		dest = rs.opts.Renamer.Rename(logical)
	}
	t := &target{entry: archive.Entry{}, source: logical, dataNS: source, kind: kindCollection}
	t.db, t.coll = ns.Split(dest)
	if t.db == "" || t.coll == "" {
		return "", false, fmt.Errorf("restore %s: target namespace %q is not <db>.<collection>", logical, dest)
	}
	if err := validateDBName(t.db); err != nil {
		return "", false, fmt.Errorf("restore %s: %w", logical, err)
	}
	for _, other := range rs.plan.targets {
		if other.isCollection() && other.namespace() == t.namespace() {
			return "", false, fmt.Errorf("restore: %s and %s would both be restored into %s", other.source, logical, dest)
		}
	}
	t.dataColl = t.coll
	if logical != source { // the buckets of a time-series collection
		t.kind, t.dataColl = kindTimeseries, "system.buckets."+t.coll
	}
	specs, err := rs.client.Database(t.db).ListCollections(ctx, bson.D{{Key: "name", Value: t.coll}})
	if err != nil {
		return "", false, fmt.Errorf("restore %s: list collections of %s: %w", logical, t.db, err)
	}
	var info bson.Raw
	if specs.Next(ctx) {
		info = append(bson.Raw(nil), specs.Current...)
	}
	_ = specs.Close(ctx)
	exists := info != nil
	st := &nsState{t: t, coll: t.coll, closed: true, created: !exists, done: make(chan struct{})}
	close(st.done)
	if rs.opts.Drop && exists {
		// Replayed beside the existing collection, swapped in with the others.
		typ, _ := info.Lookup("type").StringValueOK()
		st.coll, st.created = temporaryName(), false
		rs.existing[t.namespace()] = true
		rs.existingInfo[t.namespace()] = existingNamespace{view: typ == "view", info: info}
	}
	rs.mu.Lock()
	rs.states[source] = st
	rs.mu.Unlock()
	return t.db + "." + dataCollection(st), true, nil
}
