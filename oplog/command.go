package oplog

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// command applies a command entry ("c" on "<db>.$cmd"). Each is idempotent: repeating
// one the data already reflects (a collection that exists, an index already dropped)
// changes nothing.
func (r *Replayer) command(ctx context.Context, e *entry, depth int) error {
	name := e.Command()
	switch name {
	case "":
		return fmt.Errorf("%w: command entry without a command", ErrBadEntry)
	case "applyOps":
		return r.applyOps(ctx, e, depth)
	case "create":
		return r.onCollection(ctx, e, r.create)
	case "drop":
		return r.onCollection(ctx, e, r.dropCollection)
	case "dropDatabase":
		return r.dropDatabase(ctx, e)
	case "renameCollection":
		return r.rename(ctx, e)
	case "createIndexes", "commitIndexBuild":
		return r.onCollection(ctx, e, r.createIndexes)
	case "dropIndexes", "deleteIndex", "deleteIndexes", "dropIndex":
		return r.onCollection(ctx, e, r.dropIndexes)
	case "collMod":
		return r.onCollection(ctx, e, r.collMod)
	case "convertToCapped":
		return r.onCollection(ctx, e, r.rerun)
	case "emptycapped":
		return r.onCollection(ctx, e, r.emptyCapped)
	case "startIndexBuild", "abortIndexBuild", "setMultikeyMetadata", "dropIdent", "dbCheck":
		// An index build is replayed at its commitIndexBuild; the others are the
		// server's own bookkeeping (mongorestore skips them too).
		r.stats.Skipped++
		return nil
	case "importCollection":
		return fmt.Errorf("%w: importCollection brings in data files that the oplog does not hold", ErrUnsupported)
	case "upgradeDowngradeViewlessTimeseries":
		return fmt.Errorf("%w: the range crosses a time-series format conversion of a feature compatibility version change between 8.x and 9.0; replay up to a limit before it", ErrUnsupported)
	case "commitTransaction", "abortTransaction":
		return fmt.Errorf("%w: %s without a session and transaction number", ErrTransaction, name)
	}
	return fmt.Errorf("%w %q", ErrUnknownCommand, name)
}

// collectionOp is a command on one collection, given its target namespace.
type collectionOp func(ctx context.Context, e *entry, target string) error

// onCollection resolves the collection a command names (the value of its first field)
// and runs op on its target, after the writes queued for it.
func (r *Replayer) onCollection(ctx context.Context, e *entry, op collectionOp) error {
	first, _ := e.O.IndexErr(0)
	coll, ok := first.Value().StringValueOK()
	if !ok || coll == "" {
		return fmt.Errorf("%w: %s without a collection name", ErrBadEntry, first.Key())
	}
	target, ok, err := r.commandTarget(ctx, e.DB()+"."+coll)
	if err != nil || !ok {
		return err
	}
	return op(ctx, e, target)
}

// commandTarget resolves the source namespace ns of a command, counting the command as
// skipped when the namespace is left out (ok false) and as a command when it is not, and
// writes the batch queued for its target first.
func (r *Replayer) commandTarget(ctx context.Context, ns string) (target string, ok bool, err error) {
	target, ok, err = r.resolve(ctx, ns)
	if err != nil || !ok {
		if !ok {
			r.stats.Skipped++
		}
		return "", false, err
	}
	if err := r.settle(ctx, target); err != nil {
		return "", false, err
	}
	r.stats.Commands++
	return target, true, nil
}

// settle writes the target's queued writes and forgets what the replay knew of its
// documents, before a command changes the collection.
func (r *Replayer) settle(ctx context.Context, target string) error {
	b := r.batches[target]
	if b == nil {
		return nil
	}
	if err := r.flush(ctx, b); err != nil {
		return err
	}
	r.forgetAll(b)
	return nil
}

// runOn runs cmd on the database of target.
func (r *Replayer) runOn(ctx context.Context, target string, cmd bson.D) error {
	db, _ := splitNS(target)
	return r.client.Database(db).RunCommand(ctx, cmd).Err()
}

// commandBody is the command's fields after its first, minus the ones listed.
func commandBody(o bson.Raw, drop ...string) bson.D {
	var out bson.D
	for i, el := range mustElements(o) {
		if i == 0 || containsString(drop, el.Key()) {
			continue
		}
		out = append(out, bson.E{Key: el.Key(), Value: el.Value()})
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *Replayer) create(ctx context.Context, e *entry, target string) error {
	_, coll := splitNS(target)
	body := commandBody(e.O, "idIndex", "autoIndexId", "recordIdsReplicated")
	for i, el := range body {
		if el.Key == "viewOn" {
			body[i].Value = r.viewSource(ctx, e.DB(), el.Value.(bson.RawValue), target)
		}
	}
	err := r.runOn(ctx, target, append(bson.D{{Key: "create", Value: coll}}, body...))
	if isCode(err, codeNamespaceExists) {
		return nil
	}
	return err
}

// viewSource maps the collection a view reads to its target name, when it goes to the
// view's target database; otherwise the name stays.
func (r *Replayer) viewSource(ctx context.Context, db string, v bson.RawValue, viewTarget string) any {
	src, ok := v.StringValueOK()
	if !ok {
		return v
	}
	t, ok, err := r.resolve(ctx, db+"."+src)
	tdb, tcoll := splitNS(t)
	vdb, _ := splitNS(viewTarget)
	if err != nil || !ok || tdb != vdb {
		return src
	}
	return tcoll
}

func (r *Replayer) dropCollection(ctx context.Context, _ *entry, target string) error {
	_, coll := splitNS(target)
	err := r.runOn(ctx, target, bson.D{{Key: "drop", Value: coll}})
	if isCode(err, codeNamespaceNotFound) {
		err = nil
	}
	r.indexes.droppedCollection(target)
	return err
}

// dropDatabase drops the collections of the database that the replay knows of (the ones
// restored and the ones the entries wrote to): a database holding other collections in
// the target keeps them.
func (r *Replayer) dropDatabase(ctx context.Context, e *entry) error {
	db := e.DB()
	var sources []string
	for ns := range r.known {
		if strings.HasPrefix(ns, db+".") {
			sources = append(sources, ns)
		}
	}
	sort.Strings(sources)
	r.stats.Commands++
	for _, ns := range sources {
		target, ok, err := r.resolve(ctx, ns)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := r.settle(ctx, target); err != nil {
			return err
		}
		if err := r.dropCollection(ctx, e, target); err != nil {
			return fmt.Errorf("drop %s: %w", target, err)
		}
		delete(r.known, ns)
	}
	return nil
}

func (r *Replayer) rename(ctx context.Context, e *entry) error {
	from, okFrom := e.O.Lookup("renameCollection").StringValueOK()
	to, okTo := e.O.Lookup("to").StringValueOK()
	if !okFrom || !okTo {
		return fmt.Errorf("%w: renameCollection without its two namespaces", ErrBadEntry)
	}
	tFrom, inFrom, err := r.resolve(ctx, from)
	if err != nil {
		return err
	}
	tTo, inTo, err := r.resolve(ctx, to)
	if err != nil {
		return err
	}
	switch {
	case !inFrom && !inTo:
		r.stats.Skipped++
		return nil
	case inFrom != inTo:
		return fmt.Errorf("%w: rename of %s to %s crosses the namespace selection (one side is left out); select both or neither", ErrUnsupported, from, to)
	}
	if err := r.settle(ctx, tFrom); err != nil {
		return err
	}
	if err := r.settle(ctx, tTo); err != nil {
		return err
	}
	r.stats.Commands++
	if dropTarget(e.O) {
		if err := r.dropCollection(ctx, e, tTo); err != nil {
			return err
		}
	}
	cmd := bson.D{{Key: "renameCollection", Value: tFrom}, {Key: "to", Value: tTo}}
	err = r.client.Database("admin").RunCommand(ctx, cmd).Err()
	if isCode(err, codeNamespaceNotFound) {
		return nil // the collection was renamed already: the dump was read after this entry
	}
	if err != nil {
		return err
	}
	r.indexes.renamedCollection(tFrom, tTo)
	delete(r.known, from)
	r.known[to] = true
	return nil
}

// dropTarget: true, or the UUID of the collection dropped (servers since 4.2).
func dropTarget(o bson.Raw) bool {
	v := o.Lookup("dropTarget")
	if b, ok := v.BooleanOK(); ok {
		return b
	}
	return v.Type == bson.TypeBinary
}

func (r *Replayer) createIndexes(ctx context.Context, e *entry, target string) error {
	var specs []bson.Raw
	if indexes, ok := e.O.Lookup("indexes").ArrayOK(); ok { // commitIndexBuild
		var err error
		if specs, err = arrayDocuments(indexes, "index spec"); err != nil {
			return err
		}
	} else { // createIndexes: the spec is the rest of the command
		raw, err := bson.Marshal(commandBody(e.O))
		if err != nil {
			return err
		}
		specs = append(specs, raw)
	}
	return r.indexes.create(ctx, target, specs)
}

func (r *Replayer) dropIndexes(ctx context.Context, e *entry, target string) error {
	which, err := e.O.LookupErr("index")
	if err != nil {
		return fmt.Errorf("%w: dropIndexes without an index", ErrBadEntry)
	}
	return r.indexes.drop(ctx, target, which)
}

// collMod changes index options through the index sink, and the rest of the collection's
// options on the server.
func (r *Replayer) collMod(ctx context.Context, e *entry, target string) error {
	if mod, ok := e.O.Lookup("index").DocumentOK(); ok {
		if err := r.indexes.modify(ctx, target, mod); err != nil {
			return err
		}
	}
	body := commandBody(e.O, "index", "noPadding", "usePowerOf2Sizes")
	if len(body) == 0 {
		return nil
	}
	_, coll := splitNS(target)
	return r.runOn(ctx, target, append(bson.D{{Key: "collMod", Value: coll}}, body...))
}

// rerun runs the command again as it is, on the target collection.
func (r *Replayer) rerun(ctx context.Context, e *entry, target string) error {
	first, _ := e.O.IndexErr(0)
	_, coll := splitNS(target)
	return r.runOn(ctx, target, append(bson.D{{Key: first.Key(), Value: coll}}, commandBody(e.O)...))
}

func (r *Replayer) emptyCapped(ctx context.Context, _ *entry, target string) error {
	db, coll := splitNS(target)
	_, err := r.client.Database(db).Collection(coll).DeleteMany(ctx, bson.D{})
	return err
}

// applyOps applies the operations of an applyOps entry that is not a transaction, in
// order, as if each were an entry of its own at the applyOps entry's time.
func (r *Replayer) applyOps(ctx context.Context, e *entry, depth int) error {
	if depth >= maxNesting {
		return fmt.Errorf("%w: applyOps nested more than %d deep", ErrUnsupported, maxNesting)
	}
	return eachInnerOp(e, func(inner *entry) error {
		return r.dispatch(ctx, inner, depth+1)
	})
}

// eachInnerOp calls fn with every operation of an applyOps entry.
func eachInnerOp(e *entry, fn func(inner *entry) error) error {
	ops, err := innerOps(e)
	if err != nil {
		return err
	}
	for _, doc := range ops {
		inner, err := parseEntry(doc)
		if err != nil {
			return err
		}
		inner.TS, inner.FromMulti = e.TS, true
		if err := fn(&inner); err != nil {
			return entryError(&inner, err)
		}
	}
	return nil
}

// innerOps are the operations of an applyOps entry.
func innerOps(e *entry) ([]bson.Raw, error) {
	ops, ok := e.O.Lookup("applyOps").ArrayOK()
	if !ok {
		return nil, fmt.Errorf("%w: applyOps is not an array", ErrBadEntry)
	}
	return arrayDocuments(ops, "applyOps operation")
}

// arrayDocuments returns the documents of an array of an entry; what names one in the
// error when it is not a document.
func arrayDocuments(arr bson.RawArray, what string) ([]bson.Raw, error) {
	values, err := arr.Values()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	docs := make([]bson.Raw, 0, len(values))
	for _, v := range values {
		doc, ok := v.DocumentOK()
		if !ok {
			return nil, fmt.Errorf("%w: %s is not a document", ErrBadEntry, what)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

func isLegacyIndexNS(ns string) bool { return strings.HasSuffix(ns, ".system.indexes") }

// legacyIndexInsert replays an index creation of servers before 3.2: an insert into
// <db>.system.indexes of a spec that names its namespace.
func (r *Replayer) legacyIndexInsert(ctx context.Context, e *entry) error {
	ns, ok := e.O.Lookup("ns").StringValueOK()
	if !ok {
		return fmt.Errorf("%w: index insert without ns", ErrBadEntry)
	}
	target, ok, err := r.commandTarget(ctx, ns)
	if err != nil || !ok {
		return err
	}
	return r.indexes.create(ctx, target, []bson.Raw{e.O})
}
