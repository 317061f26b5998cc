package oplog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// indexSink receives the index operations of a replay, by target namespace.
type indexSink interface {
	create(ctx context.Context, target string, specs []bson.Raw) error
	drop(ctx context.Context, target string, which bson.RawValue) error
	modify(ctx context.Context, target string, mod bson.Raw) error
	droppedCollection(target string)
	renamedCollection(from, to string)
}

// IndexCatalog holds index specifications per target namespace until they are built:
// restore seeds it with the dumped indexes, the replay adds, drops and modifies them as
// its entries say, and Build creates what remains once the data is final. It is safe for
// concurrent use.
type IndexCatalog struct {
	mu    sync.Mutex
	specs map[string][]bson.D // target namespace -> specs, in creation order
}

// NewIndexCatalog returns an empty catalog.
func NewIndexCatalog() *IndexCatalog { return &IndexCatalog{specs: map[string][]bson.D{}} }

// Add records index specifications (as listIndexes or a dump's metadata give them) for a
// target namespace. The default _id index is left out; a spec with the name of one
// already recorded replaces it.
func (c *IndexCatalog) Add(target string, specs ...bson.Raw) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range specs {
		spec, ok, err := indexSpec(raw)
		if err != nil {
			return fmt.Errorf("index of %s: %w", target, err)
		}
		if ok {
			c.put(target, spec)
		}
	}
	return nil
}

func (c *IndexCatalog) put(target string, spec bson.D) {
	name := specName(spec)
	list := c.specs[target]
	for i, s := range list {
		if specName(s) == name {
			list[i] = spec
			return
		}
	}
	c.specs[target] = append(list, spec)
}

// Namespaces lists the target namespaces that have indexes to build, sorted.
func (c *IndexCatalog) Namespaces() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for ns, list := range c.specs {
		if len(list) > 0 {
			out = append(out, ns)
		}
	}
	sort.Strings(out)
	return out
}

// specsOf returns the index specifications recorded for a target namespace.
func (c *IndexCatalog) specsOf(target string) []bson.D {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bson.D(nil), c.specs[target]...)
}

// Build creates the indexes recorded for target that the collection does not have yet
// (same name and key), with one createIndexes command.
func (c *IndexCatalog) Build(ctx context.Context, client *mongo.Client, target string) error {
	specs := c.specsOf(target)
	if len(specs) == 0 {
		return nil
	}
	raws := make([]bson.Raw, 0, len(specs))
	for _, s := range specs {
		raw, err := bson.Marshal(s)
		if err != nil {
			return err
		}
		raws = append(raws, raw)
	}
	return createIndexes(ctx, client, target, raws)
}

func (c *IndexCatalog) create(_ context.Context, target string, specs []bson.Raw) error {
	return c.Add(target, specs...)
}

func (c *IndexCatalog) drop(_ context.Context, target string, which bson.RawValue) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.specs[target]
	keep := list[:0]
	for _, s := range list {
		if !indexMatches(s, which) {
			keep = append(keep, s)
		}
	}
	c.specs[target] = keep
	return nil
}

func (c *IndexCatalog) modify(_ context.Context, target string, mod bson.Raw) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.specs[target] {
		if modTargets(s, mod) {
			c.specs[target][i] = applyIndexMod(s, mod)
		}
	}
	return nil
}

func (c *IndexCatalog) droppedCollection(target string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.specs, target)
}

func (c *IndexCatalog) renamedCollection(from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.specs[to] = c.specs[from]
	delete(c.specs, from)
}

// indexSpec turns a spec from a dump or an oplog entry into one for createIndexes: the
// legacy ns and the version v are left out (the server picks its own, as mongorestore
// lets it), whole-number key values of any numeric type become int32 (some servers
// refuse 1.0 as a direction), key order is kept. ok is false for the default _id index
// and for a spec without a name.
func indexSpec(raw bson.Raw) (spec bson.D, ok bool, err error) {
	name, hasName := raw.Lookup("name").StringValueOK()
	key, hasKey := raw.Lookup("key").DocumentOK()
	switch {
	case !hasName:
		return nil, false, nil // mongorestore leaves out a spec without a name too
	case !hasKey:
		return nil, false, fmt.Errorf("%w: index %q has no key document", ErrBadEntry, name)
	}
	if isIDKey(key) {
		return nil, false, nil
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, false, err
	}
	for _, el := range elems {
		switch el.Key() {
		case "ns", "v":
		case "name":
			spec = append(spec, bson.E{Key: "name", Value: name})
		case "key":
			spec = append(spec, bson.E{Key: "key", Value: normalizeKey(key)})
		default:
			spec = append(spec, bson.E{Key: el.Key(), Value: el.Value()})
		}
	}
	return spec, true, nil
}

func normalizeKey(key bson.Raw) bson.D {
	var d bson.D
	for _, el := range mustElements(key) {
		v := el.Value()
		if n, ok := wholeNumber(v); ok && v.Type != bson.TypeInt32 && n >= -1<<31 && n < 1<<31 {
			d = append(d, bson.E{Key: el.Key(), Value: int32(n)})
			continue
		}
		d = append(d, bson.E{Key: el.Key(), Value: v})
	}
	return d
}

func isIDKey(key bson.Raw) bool {
	elems := mustElements(key)
	if len(elems) != 1 || elems[0].Key() != "_id" {
		return false
	}
	n, ok := wholeNumber(elems[0].Value())
	return ok && n == 1
}

func specName(spec bson.D) string {
	for _, e := range spec {
		if e.Key == "name" {
			s, _ := e.Value.(string)
			return s
		}
	}
	return ""
}

func specKey(spec bson.D) []byte {
	for _, e := range spec {
		if e.Key == "key" {
			b, _ := bson.Marshal(e.Value)
			return b
		}
	}
	return nil
}

// indexMatches: does a dropIndexes "index" value (a name, "*", a key pattern, or a list
// of names) name this spec?
func indexMatches(spec bson.D, which bson.RawValue) bool {
	switch which.Type {
	case bson.TypeString:
		name := which.StringValue()
		return name == "*" || name == specName(spec)
	case bson.TypeEmbeddedDocument:
		want, _ := bson.Marshal(normalizeKey(which.Document()))
		return bytes.Equal(want, specKey(spec))
	case bson.TypeArray:
		values, _ := which.Array().Values()
		for _, v := range values {
			if indexMatches(spec, v) {
				return true
			}
		}
	}
	return false
}

// modTargets: does a collMod "index" document ({name} or {keyPattern}) name this spec?
func modTargets(spec bson.D, mod bson.Raw) bool {
	if name, ok := mod.Lookup("name").StringValueOK(); ok {
		return name == specName(spec)
	}
	if key, ok := mod.Lookup("keyPattern").DocumentOK(); ok {
		return indexMatches(spec, bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: key})
	}
	return false
}

// applyIndexMod sets the options a collMod changes on an index (hidden,
// expireAfterSeconds, unique, prepareUnique); hidden:false and prepareUnique:false remove
// the option, as the server's own spec then lacks it.
func applyIndexMod(spec bson.D, mod bson.Raw) bson.D {
	out := append(bson.D(nil), spec...)
	for _, el := range mustElements(mod) {
		k := el.Key()
		if k == "name" || k == "keyPattern" || k == "forceNonUnique" {
			if k == "forceNonUnique" {
				out = withoutKey(out, "unique")
			}
			continue
		}
		if b, ok := el.Value().BooleanOK(); ok && !b && (k == "hidden" || k == "prepareUnique") {
			out = withoutKey(out, k)
			continue
		}
		out = withKey(out, k, el.Value())
	}
	return out
}

func withoutKey(d bson.D, key string) bson.D {
	out := d[:0]
	for _, e := range d {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}

func withKey(d bson.D, key string, v any) bson.D {
	for i, e := range d {
		if e.Key == key {
			d[i].Value = v
			return d
		}
	}
	return append(d, bson.E{Key: key, Value: v})
}

// liveIndexes runs the index operations on the server as they come.
type liveIndexes struct{ client *mongo.Client }

func (l liveIndexes) create(ctx context.Context, target string, specs []bson.Raw) error {
	return createIndexes(ctx, l.client, target, specs)
}

func (l liveIndexes) drop(ctx context.Context, target string, which bson.RawValue) error {
	db, coll := splitNS(target)
	err := l.client.Database(db).RunCommand(ctx, bson.D{{Key: "dropIndexes", Value: coll}, {Key: "index", Value: which}}).Err()
	if isCode(err, codeIndexNotFound, codeNamespaceNotFound) {
		return nil // already gone: the replay went past a drop it is now repeating
	}
	return err
}

func (l liveIndexes) modify(ctx context.Context, target string, mod bson.Raw) error {
	db, coll := splitNS(target)
	return l.client.Database(db).RunCommand(ctx, bson.D{{Key: "collMod", Value: coll}, {Key: "index", Value: mod}}).Err()
}

func (liveIndexes) droppedCollection(string)         {}
func (liveIndexes) renamedCollection(string, string) {}

// createIndexes creates the specs the collection lacks (same name and key). An index of
// the same name and another definition is dropped first: the replay is going through
// the history of that name, and later entries bring it to its final form.
func createIndexes(ctx context.Context, client *mongo.Client, target string, raws []bson.Raw) error {
	db, coll := splitNS(target)
	existing, err := listIndexes(ctx, client.Database(db).Collection(coll))
	if err != nil {
		return fmt.Errorf("list the indexes of %s: %w", target, err)
	}
	var specs bson.A
	for _, raw := range raws {
		spec, ok, err := indexSpec(raw)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		name := specName(spec)
		if key, has := existing[name]; has {
			if bytes.Equal(key, specKey(spec)) {
				continue // FerretDB v1 drops the connection on a repeated createIndexes
			}
			if err := client.Database(db).RunCommand(ctx, bson.D{{Key: "dropIndexes", Value: coll}, {Key: "index", Value: name}}).Err(); err != nil {
				return fmt.Errorf("replace index %s of %s: %w", name, target, err)
			}
		}
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		return nil
	}
	cmd := bson.D{{Key: "createIndexes", Value: coll}, {Key: "indexes", Value: specs}}
	if err := client.Database(db).RunCommand(ctx, cmd).Err(); err != nil {
		return fmt.Errorf("create indexes on %s: %w", target, err)
	}
	return nil
}

// listIndexes returns name -> normalized key of a collection's indexes; a missing
// collection has none.
func listIndexes(ctx context.Context, coll *mongo.Collection) (map[string][]byte, error) {
	out := map[string][]byte{}
	cur, err := coll.Indexes().List(ctx)
	if isCode(err, codeNamespaceNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		name, _ := cur.Current.Lookup("name").StringValueOK()
		key, _ := cur.Current.Lookup("key").DocumentOK()
		out[name], _ = bson.Marshal(normalizeKey(key))
	}
	return out, cur.Err()
}

// Server error codes the replay treats as "already done".
const (
	codeNamespaceNotFound = 26
	codeIndexNotFound     = 27
	codeNamespaceExists   = 48
)

func isCode(err error, codes ...int32) bool {
	if err == nil {
		return false
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		for _, c := range codes {
			if ce.Code == c {
				return true
			}
		}
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, c := range codes {
			if se.HasErrorCode(int(c)) {
				return true
			}
		}
	}
	return false
}
