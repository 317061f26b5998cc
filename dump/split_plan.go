package dump

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/dump/idrange"
)

// A collection of at least DumpOptions.SplitBytes is read as several _id ranges at once
// (dump/idrange): the cheapest boundaries the server gives — splitVector's split points
// where the user may run it, else a $sample of _id values, else sorted finds with skip —
// make ranges of the brackets they fall in, and one more query reads every other bracket.
// Each document is in exactly one of them, so each is read at most once (exactly once if
// it exists throughout), as an unsplit read promises.

// samplesPerPart is how many sampled _id values each range's boundary is chosen among.
const samplesPerPart = 32

// splitRead is how one collection is read in ranges.
type splitRead struct {
	plan idrange.Plan
}

// planSplit decides whether c is read in ranges and finds its boundaries. It returns nil
// (one cursor) when the collection is not to be split, and when the server cannot help:
// every refusal is a debug line, never an error.
func planSplit(ctx context.Context, client *mongo.Client, c collectionInfo, opts DumpOptions) *splitRead {
	parts := opts.Parallel
	if why := unsplittable(c, opts); why != "" {
		if why != "small" {
			opts.Logger.Debug("read with one cursor", "namespace", c.namespace(), "reason", why)
		}
		return nil
	}
	log := opts.Logger.With("namespace", c.namespace())
	coll := client.Database(c.entry.DB).Collection(c.dataColl)
	start := time.Now()
	if !opts.splitWithoutIndex {
		indexed, err := rangesUseIndex(ctx, coll)
		if err != nil || !indexed {
			log.Debug("read with one cursor: the server does not read _id ranges from an index, so ranges would each scan the whole collection",
				"error", err)
			return nil
		}
	}
	for _, src := range boundarySources {
		keys, err := src.find(ctx, coll, c, parts)
		if err != nil {
			log.Debug("no boundaries from "+src.name, "error", err, "took", time.Since(start).Round(time.Millisecond))
			continue
		}
		plan := idrange.NewPlan(idrange.Choose(keys, parts))
		if len(plan.Ranges) == 0 {
			log.Debug("no boundaries from "+src.name+": no usable _id value", "values", len(keys))
			continue
		}
		log.Info("reading in ranges", "ranges", len(plan.Ranges), "boundaries_from", src.name,
			"values", len(keys), "took", time.Since(start).Round(time.Millisecond))
		return &splitRead{plan: plan}
	}
	log.Debug("read with one cursor: no way to find boundaries worked", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// unsplittable says why c is read with one cursor whatever its size, "small" when it is
// below the threshold, "" when it may be split.
func unsplittable(c collectionInfo, opts DumpOptions) string {
	switch {
	case c.view:
		return "a view"
	case opts.SplitBytes <= 0 || c.size < opts.SplitBytes:
		return "small"
	case opts.Parallel < 2:
		return "one cursor in all (Parallel 1)"
	case c.capped:
		return "capped: read in insertion order"
	case c.entry.Type == "timeseries":
		return "time-series buckets"
	case c.collated:
		return "its default collation orders strings unlike the ranges' boundaries"
	case c.estimate < int64(2*opts.Parallel):
		return "too few documents"
	}
	return ""
}

// rangesUseIndex asks the server's plan for an _id range (explain, without running it):
// whether it reads the range from an index, as MongoDB and FerretDB v2 do. FerretDB v1
// scans the whole collection for any range, so ranges would multiply its work.
func rangesUseIndex(ctx context.Context, coll *mongo.Collection) (bool, error) {
	low, high := bson.ObjectID{}, bson.ObjectID{11: 1}
	find := bson.D{{Key: "find", Value: coll.Name()},
		{Key: "filter", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: low}, {Key: "$lt", Value: high}}}}},
		{Key: "hint", Value: bson.D{{Key: "_id", Value: 1}}}}
	var res bson.Raw
	err := coll.Database().RunCommand(ctx, bson.D{{Key: "explain", Value: find}, {Key: "verbosity", Value: "queryPlanner"}}).Decode(&res)
	if err != nil {
		return false, fmt.Errorf("explain: %w", err)
	}
	return planUsesIndex(res), nil
}

// indexStages are the plan stages that read an index: MongoDB's, and PostgreSQL's as
// FerretDB v2 reports them.
var indexStages = map[string]bool{
	"IXSCAN": true, "CLUSTERED_IXSCAN": true, "EXPRESS_IXSCAN": true, "EXPRESS_CLUSTERED_IXSCAN": true,
	"Index Scan": true, "Index Only Scan": true, "Bitmap Index Scan": true,
}

// planUsesIndex looks through an explain answer for a stage that reads an index.
func planUsesIndex(doc bson.Raw) bool {
	elems, _ := doc.Elements()
	for _, e := range elems {
		v := e.Value()
		switch v.Type {
		case bson.TypeString:
			if (e.Key() == "stage" || e.Key() == "Node Type") && indexStages[v.StringValue()] {
				return true
			}
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			if planUsesIndex(v.Value) {
				return true
			}
		}
	}
	return false
}

// boundarySource is one way to find _id values to split at, in the server's order.
type boundarySource struct {
	name string
	find func(ctx context.Context, coll *mongo.Collection, c collectionInfo, parts int) ([]bson.RawValue, error)
}

// boundarySources, cheapest first.
var boundarySources = []boundarySource{
	{"splitVector", splitVectorKeys},
	{"$sample", sampledIDs},
	{"skip", skippedIDs},
}

// splitVectorKeys asks splitVector (MongoDB's chunk splitter; it needs the splitVector
// privilege, and FerretDB has no such command) for split points about size/parts apart,
// read from the _id index.
func splitVectorKeys(ctx context.Context, coll *mongo.Collection, c collectionInfo, parts int) ([]bson.RawValue, error) {
	cmd := bson.D{{Key: "splitVector", Value: c.entry.DB + "." + c.dataColl},
		{Key: "keyPattern", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "maxChunkSizeBytes", Value: max(c.size/int64(parts), 1<<20)}}
	var res bson.Raw
	if err := coll.Database().RunCommand(ctx, cmd).Decode(&res); err != nil {
		return nil, err
	}
	return splitKeys(res)
}

// splitKeys reads the _id values of a splitVector answer, {splitKeys: [{_id: v}, …], ok: 1}.
func splitKeys(res bson.Raw) ([]bson.RawValue, error) {
	arr, ok := res.Lookup("splitKeys").ArrayOK()
	if !ok {
		return nil, errors.New("the answer has no splitKeys array")
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, err
	}
	var out []bson.RawValue
	for _, v := range vals {
		key, ok := v.DocumentOK()
		if !ok {
			return nil, fmt.Errorf("split key %s is not a document", v)
		}
		id, err := key.LookupErr("_id")
		if err != nil {
			return nil, fmt.Errorf("split key %s has no _id", key)
		}
		out = append(out, id)
	}
	return out, nil
}

// sampledIDs samples _id values with $sample and has the server sort them. MongoDB samples
// with a random cursor below 5 % of the documents (above, it would scan and sort them all),
// FerretDB v2 with TABLESAMPLE; FerretDB v1 has no $sample.
func sampledIDs(ctx context.Context, coll *mongo.Collection, c collectionInfo, parts int) ([]bson.RawValue, error) {
	size := min(int64(samplesPerPart*parts), c.estimate/20)
	if size < int64(parts) {
		return nil, fmt.Errorf("too few documents (about %d) for a sample below 5 %% of them", c.estimate)
	}
	pipeline := bson.A{
		bson.D{{Key: "$sample", Value: bson.D{{Key: "size", Value: size}}}},
		bson.D{{Key: "$project", Value: bson.D{{Key: "_id", Value: 1}}}},
		bson.D{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}},
	}
	cur, err := coll.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	return cursorIDs(ctx, cur)
}

// skippedIDs finds the _id at each k/parts of the collection's documents with a sorted find
// that skips to it: index-backed, but it walks the index up to each point.
func skippedIDs(ctx context.Context, coll *mongo.Collection, c collectionInfo, parts int) ([]bson.RawValue, error) {
	var out []bson.RawValue
	for k := 1; k < parts; k++ {
		find := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetHint(bson.D{{Key: "_id", Value: 1}}).
			SetSkip(int64(k) * c.estimate / int64(parts)).SetLimit(1).SetProjection(bson.D{{Key: "_id", Value: 1}})
		cur, err := coll.Find(ctx, bson.D{}, find)
		if err != nil {
			return nil, err
		}
		ids, err := cursorIDs(ctx, cur)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	return out, nil
}

// cursorIDs collects the _id of every document of cur, and closes it.
func cursorIDs(ctx context.Context, cur *mongo.Cursor) ([]bson.RawValue, error) {
	defer cur.Close(context.WithoutCancel(ctx))
	var out []bson.RawValue
	for cur.Next(ctx) {
		id, err := cur.Current.LookupErr("_id")
		if err != nil {
			continue
		}
		out = append(out, bson.RawValue{Type: id.Type, Value: append([]byte(nil), id.Value...)})
	}
	return out, cur.Err()
}
