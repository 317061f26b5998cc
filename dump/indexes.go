package dump

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// createIndexes builds every index of the archive's metadata but the default _id one,
// with one createIndexes command, after the collection's documents are in.
func (rs *restorer) createIndexes(ctx context.Context, db *mongo.Database, st *nsState) error {
	specs, err := restorableIndexes(st.t.meta.Indexes)
	if err != nil {
		return fmt.Errorf("restore %s: indexes: %w", st.t.namespace(), err)
	}
	if !st.created {
		// Appending to a collection that existed: leave out indexes it already has (same
		// name and key). The server would accept them as no-ops, but FerretDB v1 drops the
		// connection instead.
		if specs, err = withoutExisting(ctx, db.Collection(st.coll), specs); err != nil {
			return fmt.Errorf("restore %s: list existing indexes: %w", st.t.namespace(), err)
		}
	}
	if len(specs) == 0 {
		return nil
	}
	// Time-series indexes are created on the time-series collection itself, like others.
	cmd := bson.D{{Key: "createIndexes", Value: st.coll}, {Key: "indexes", Value: specs}}
	wctx, cancel := writeContext(ctx)
	defer cancel()
	if err := db.RunCommand(wctx, cmd).Err(); err != nil {
		return fmt.Errorf("restore %s: create indexes: %w", st.t.namespace(), err)
	}
	return nil
}

// restorableIndexes turns archived index specs into createIndexes specs: the default
// {_id:1} index is left out (the server makes it), the legacy `ns` and the `v` version
// fields are stripped (the server picks its own, as mongorestore does), and numeric key
// values of any BSON number type become int32 where they are whole numbers, since some
// servers refuse 1.0 or Decimal128 1 as a direction. Specs without a string name are
// dropped, as mongorestore does; key order is kept exactly.
func restorableIndexes(raw []bson.Raw) (bson.A, error) {
	out := bson.A{}
	for _, spec := range raw {
		name, ok := spec.Lookup("name").StringValueOK()
		if !ok {
			continue
		}
		key, ok := spec.Lookup("key").DocumentOK()
		if !ok {
			return nil, fmt.Errorf("index %q has no key document", name)
		}
		if isDefaultIDIndex(key) {
			continue
		}
		elems, err := spec.Elements()
		if err != nil {
			return nil, fmt.Errorf("index %q: %w", name, err)
		}
		var d bson.D
		for _, e := range elems {
			switch e.Key() {
			case "ns", "v":
				continue
			case "key":
				nk, err := normalizeKey(key)
				if err != nil {
					return nil, fmt.Errorf("index %q: %w", name, err)
				}
				d = append(d, bson.E{Key: "key", Value: nk})
			default:
				d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func isDefaultIDIndex(key bson.Raw) bool {
	elems, err := key.Elements()
	if err != nil || len(elems) != 1 || elems[0].Key() != "_id" {
		return false
	}
	n, ok := wholeNumber(elems[0].Value())
	return ok && n == 1
}

func normalizeKey(key bson.Raw) (bson.D, error) {
	elems, err := key.Elements()
	if err != nil {
		return nil, err
	}
	d := make(bson.D, 0, len(elems))
	for _, e := range elems {
		v := e.Value()
		if n, ok := wholeNumber(v); ok && v.Type != bson.TypeInt32 {
			d = append(d, bson.E{Key: e.Key(), Value: int32(n)})
			continue
		}
		d = append(d, bson.E{Key: e.Key(), Value: v})
	}
	return d, nil
}

// wholeNumber reports v as an int64 when it is a number of any BSON type holding a whole
// value that fits an int32.
func wholeNumber(v bson.RawValue) (int64, bool) {
	var f float64
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		f = float64(v.Int64())
	case bson.TypeDouble:
		f = v.Double()
	case bson.TypeDecimal128:
		d := v.Decimal128()
		parsed, err := strconv.ParseFloat(d.String(), 64)
		if err != nil {
			return 0, false
		}
		f = parsed
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int64(f), true
}

func withoutExisting(ctx context.Context, coll *mongo.Collection, specs bson.A) (bson.A, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	have := map[string]string{}
	for cur.Next(ctx) {
		name, _ := cur.Current.Lookup("name").StringValueOK()
		key, _ := cur.Current.Lookup("key").DocumentOK()
		if nk, err := normalizeKey(key); err == nil {
			b, _ := bson.Marshal(nk)
			have[name] = string(b)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	out := bson.A{}
	for _, s := range specs {
		raw, err := bson.Marshal(s)
		if err != nil {
			return nil, err
		}
		name, _ := bson.Raw(raw).Lookup("name").StringValueOK()
		key, _ := bson.Raw(raw).Lookup("key").DocumentOK()
		if k, ok := have[name]; ok && k == string(key) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}
