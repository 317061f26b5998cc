package dump

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/idrange"
)

// A dump reads its collections as tasks, each one cursor: a whole collection, or one
// range (or the rest) of a split one. At most Parallel tasks run at once, in the planned
// order (largest collection first, its ranges together), so Parallel is the number of
// cursors in flight for the whole backup. A collection's namespace is opened by its first
// task and closed by its last; every open namespace has a task running, so no more than
// Parallel are open, as the archive's header promises.

// collectionRead is one collection being read by one task or several.
type collectionRead struct {
	info    collectionInfo
	split   *splitRead // nil: one cursor
	open    sync.Once
	nw      *archive.NamespaceWriter
	openErr error
	counter *nsProgress
	left    atomic.Int32 // tasks not yet finished
	bytes   atomic.Int64
	index   int // position in the results
	stats   NamespaceStats
}

// readTask is one cursor's share of a collection.
type readTask struct {
	cr    *collectionRead
	rng   *idrange.Range // nil with a split: the rest; nil without: the whole collection
	part  int            // 1-based position among the collection's tasks, for errors
	total int
}

// planReads decides how each collection is read and lists the tasks in reading order.
func planReads(ctx context.Context, client *mongo.Client, colls []collectionInfo, opts DumpOptions) ([]*collectionRead, []readTask) {
	var reads []*collectionRead
	var tasks []readTask
	for i, c := range colls {
		cr := &collectionRead{info: c, index: i, split: planSplit(ctx, client, c, opts)}
		reads = append(reads, cr)
		if cr.split == nil {
			cr.left.Store(1)
			tasks = append(tasks, readTask{cr: cr, part: 1, total: 1})
			continue
		}
		n := len(cr.split.plan.Ranges) + 1
		cr.left.Store(int32(n))
		// The rest first: it finds little, but may scan much, so it overlaps the ranges.
		tasks = append(tasks, readTask{cr: cr, part: 1, total: n})
		for k := range cr.split.plan.Ranges {
			tasks = append(tasks, readTask{cr: cr, rng: &cr.split.plan.Ranges[k], part: k + 2, total: n})
		}
	}
	return reads, tasks
}

// dumpCollections reads the collections, at most opts.Parallel cursors at once, and returns
// what each wrote, in the given order.
func dumpCollections(ctx context.Context, client *mongo.Client, aw *archive.Writer, colls []collectionInfo, opts DumpOptions) ([]NamespaceStats, error) {
	reads, tasks := planReads(ctx, client, colls, opts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for _, task := range tasks {
		if gctx.Err() != nil {
			break // a task failed: start no more; Wait reports why
		}
		g.Go(func() error { return runTask(gctx, client, aw, task, opts) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	results := make([]NamespaceStats, len(reads))
	for _, cr := range reads {
		results[cr.index] = cr.stats
	}
	return results, nil
}

// runTask reads one task's documents into the collection's namespace, opening it first
// if no task of the collection did yet, and finishing it if this was the last task.
func runTask(ctx context.Context, client *mongo.Client, aw *archive.Writer, t readTask, opts DumpOptions) error {
	cr, c := t.cr, t.cr.info
	ns := c.namespace()
	cr.open.Do(func() {
		cr.nw, cr.openErr = aw.Open(ctx, c.entry.DB, c.dataColl)
		if cr.openErr == nil && !c.view {
			cr.counter = opts.Progress.namespace(ns, c.estimate)
		}
	})
	if cr.openErr != nil {
		return fmt.Errorf("dump %s: %w", ns, cr.openErr)
	}
	if !c.view {
		coll := client.Database(c.entry.DB).Collection(c.dataColl)
		var n int64
		var err error
		if cr.split == nil {
			n, err = copyCollection(ctx, coll, bson.D{}, wholeFind(c), cr.nw, cr.counter)
		} else {
			n, err = readPart(ctx, coll, t, opts)
		}
		cr.bytes.Add(n)
		if err != nil {
			if t.total > 1 {
				return fmt.Errorf("dump %s, %s: %w", ns, t.describe(), err)
			}
			return fmt.Errorf("dump %s: %w", ns, err)
		}
	}
	if cr.left.Add(-1) > 0 {
		return nil
	}
	return finishCollection(cr, opts)
}

// finishCollection closes the namespace once every task of the collection is done.
func finishCollection(cr *collectionRead, opts DumpOptions) error {
	ns := cr.info.namespace()
	cr.counter.finish()
	if err := cr.nw.Close(); err != nil {
		return fmt.Errorf("dump %s: %w", ns, err)
	}
	cr.stats = NamespaceStats{Namespace: ns, Documents: cr.nw.Count(), Bytes: cr.bytes.Load(), CRC: cr.nw.CRC()}
	if opts.Progress != nil {
		opts.Progress.Namespaces.Add(1)
	}
	opts.Logger.Debug("dumped", "namespace", ns, "documents", cr.stats.Documents, "bytes", cr.stats.Bytes)
	return nil
}

// wholeFind is the find of a collection read by one cursor: natural order (no sort, no
// hint, no count), or _id order on a server that pages natural-order scans wrongly.
func wholeFind(c collectionInfo) *options.FindOptionsBuilder {
	find := options.Find().SetBatchSize(cursorBatch(c))
	if c.byID {
		find.SetSort(bson.D{{Key: "_id", Value: 1}})
	}
	return find
}

func (t readTask) describe() string {
	if t.rng == nil {
		return fmt.Sprintf("part %d of %d (the _id types no range holds)", t.part, t.total)
	}
	return fmt.Sprintf("part %d of %d (_id in %s)", t.part, t.total, t.rng)
}

// readPart reads one range, or the rest, of a split collection into a Part of its
// namespace.
func readPart(ctx context.Context, coll *mongo.Collection, t readTask, opts DumpOptions) (int64, error) {
	part, err := t.cr.nw.Part()
	if err != nil {
		return 0, err
	}
	var w docWriter = part
	if hook := opts.rangeStarted; hook != nil {
		w = &startHook{w: w, ns: t.cr.info.namespace(), hook: hook}
	}
	var n int64
	if t.rng != nil {
		n, err = readRange(ctx, coll, t, w)
	} else {
		n, err = readRest(ctx, coll, t, w, opts)
	}
	if cerr := part.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// rangeFind reads a range in _id order from the _id index: on FerretDB v2 the order also
// keeps its natural-order paging bug away, and the hint keeps PostgreSQL from scanning the
// whole table for a wide range.
func rangeFind(c collectionInfo) *options.FindOptionsBuilder {
	find := options.Find().SetBatchSize(cursorBatch(c)).SetHint(bson.D{{Key: "_id", Value: 1}})
	if c.byID {
		find.SetSort(bson.D{{Key: "_id", Value: 1}})
	}
	return find
}

func readRange(ctx context.Context, coll *mongo.Collection, t readTask, w docWriter) (int64, error) {
	cur, err := coll.Find(ctx, t.rng.Filter(), rangeFind(t.cr.info))
	if err != nil {
		return 0, fmt.Errorf("find in %s: %w", coll.Name(), err)
	}
	if sh, ok := w.(*startHook); ok {
		sh.cur = cur
	}
	return copyCursor(ctx, cur, coll.Name(), w, t.cr.counter)
}

// readRest reads the documents whose _id is of a bracket no range holds, then a NaN _id
// when the numbers are split. A server that refuses a type name of the rest (FerretDB v1
// knows neither MinKey, MaxKey, symbols, code, DBPointers, undefined nor decimals, and
// can store no such value) is asked again for the types every server knows, and is not
// asked for NaN (which FerretDB v1 cannot store either).
func readRest(ctx context.Context, coll *mongo.Collection, t readTask, w docWriter, opts DumpOptions) (int64, error) {
	plan, c := t.cr.split.plan, t.cr.info
	find := options.Find().SetBatchSize(cursorBatch(c))
	if c.byID {
		find.SetSort(bson.D{{Key: "_id", Value: 1}})
	}
	filters := []bson.D{plan.RestFilter(false)}
	cur, err := coll.Find(ctx, filters[0], find)
	if refusedQuery(err) {
		opts.Logger.Debug("the server refuses some BSON type names, so it holds no _id of those types: asking for the common ones",
			"namespace", c.namespace(), "error", err)
		cur, err = coll.Find(ctx, plan.RestFilter(true), find)
	} else if nan := plan.NaNFilter(); nan != nil {
		filters = append(filters, nan)
	}
	var total int64
	for i := range filters {
		if i > 0 {
			cur, err = coll.Find(ctx, filters[i], find)
		}
		if err != nil {
			return total, fmt.Errorf("find in %s: %w", coll.Name(), err)
		}
		if sh, ok := w.(*startHook); ok {
			sh.cur = cur
		}
		n, err := copyCursor(ctx, cur, coll.Name(), w, t.cr.counter)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// refusedQuery reports the server refusing a query's filter as such (BadValue,
// NotImplemented), before any document moved.
func refusedQuery(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 2 || ce.Code == 238)
}

// startHook calls the tests' hook with the cursor's ID at its first document.
type startHook struct {
	w      docWriter
	ns     string
	hook   func(string, int64)
	cur    *mongo.Cursor
	called bool
}

func (s *startHook) Write(doc []byte) error {
	if !s.called && s.cur != nil {
		s.called = true
		s.hook(s.ns, s.cur.ID())
	}
	return s.w.Write(doc)
}
