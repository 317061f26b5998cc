package dump

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/archive"
)

// collectionInfo is one namespace to dump, with its prelude entry.
type collectionInfo struct {
	entry    archive.Entry
	dataColl string // collection whose documents are read (time-series: system.buckets.X)
	view     bool
	capped   bool  // read in natural order always: it is the collection's insertion order
	collated bool  // has a default collation other than simple: strings order by it
	byID     bool  // read in _id order (serverInfo.scanByID)
	estimate int64 // estimated document count, for ordering and progress
	size     int64 // estimated data size in bytes
}

func (c collectionInfo) namespace() string { return c.entry.DB + "." + c.entry.Collection }

// listDatabases returns the databases to dump: the given ones, or every database but
// local (and config unless includeConfig).
func listDatabases(ctx context.Context, client *mongo.Client, includeConfig bool) ([]string, error) {
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	var out []string
	for _, n := range names {
		if n == "local" || (n == "config" && !includeConfig) || strings.HasPrefix(n, "__mdb_internal") {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// listCollections builds the prelude entries of one database from listCollections and
// listIndexes, the way mongodump 100.x does (docs/archive-format.md §2).
func listCollections(ctx context.Context, db *mongo.Database, serverVersion string) ([]collectionInfo, error) {
	cur, err := db.ListCollections(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list collections of %s: %w", db.Name(), err)
	}
	var raws []bson.Raw
	for cur.Next(ctx) {
		raws = append(raws, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		cur.Close(ctx)
		return nil, fmt.Errorf("list collections of %s: %w", db.Name(), err)
	}
	cur.Close(ctx)

	var out []collectionInfo
	for _, raw := range raws {
		info, skip, err := collectionFromListing(db.Name(), raw, serverVersion)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		if !info.view {
			indexes, err := listIndexes(ctx, db.Collection(info.entry.Collection))
			if err != nil {
				return nil, err
			}
			if err := info.setIndexes(indexes); err != nil {
				return nil, err
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// collectionFromListing turns one listCollections answer into a prelude entry with its
// metadata (indexes are filled in later). skip reports namespaces mongodump never dumps.
func collectionFromListing(dbName string, raw bson.Raw, serverVersion string) (info collectionInfo, skip bool, err error) {
	name, _ := raw.Lookup("name").StringValueOK()
	typ, _ := raw.Lookup("type").StringValueOK()
	if name == "" {
		return info, true, nil
	}
	if skipCollection(dbName, name) {
		return info, true, nil
	}
	md := &archive.Metadata{CollectionName: name, Type: typ, Indexes: []bson.Raw{}}
	if opts, ok := raw.Lookup("options").DocumentOK(); ok && len(opts) > 5 {
		md.Options = opts
		info.capped, _ = opts.Lookup("capped").BooleanOK()
		locale, ok := opts.Lookup("collation", "locale").StringValueOK()
		info.collated = ok && locale != "simple"
	}
	if sub, data, ok := raw.Lookup("info", "uuid").BinaryOK(); ok && sub == 4 && len(data) == 16 {
		md.UUID = hex.EncodeToString(data)
	}
	info.dataColl, info.view = name, typ == "view"
	info.entry = archive.Entry{DB: dbName, Collection: name, Type: typ}
	if typ == "timeseries" {
		dataNS, err := info.entry.DataNamespace(serverVersion)
		if err != nil {
			return info, false, err
		}
		info.dataColl = strings.TrimPrefix(dataNS, dbName+".")
	}
	text, err := archive.FormatMetadata(md)
	if err != nil {
		return info, false, fmt.Errorf("metadata of %s.%s: %w", dbName, name, err)
	}
	info.entry.Metadata = text
	return info, false, nil
}

// setIndexes re-renders the entry's metadata with the given index specs.
func (c *collectionInfo) setIndexes(indexes []bson.Raw) error {
	md, err := archive.ParseMetadata(c.entry.Metadata)
	if err != nil {
		return err
	}
	md.Indexes = indexes
	text, err := archive.FormatMetadata(md)
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", c.namespace(), err)
	}
	c.entry.Metadata = text
	return nil
}

// skipCollection mirrors what mongodump leaves out: system collections other than
// system.js (and admin's auth collections, handled separately), and names with '$'; and
// the temporary collections of a restore, which only hold a copy of backup data (what a
// restore moved aside is dumped: it may be the only copy of that data).
func skipCollection(db, name string) bool {
	if strings.Contains(name, "$") || IsTemporary(name) {
		return true
	}
	if strings.HasPrefix(name, "system.") {
		return name != "system.js"
	}
	return false
}

func listIndexes(ctx context.Context, coll *mongo.Collection) ([]bson.Raw, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s.%s: %w", coll.Database().Name(), coll.Name(), err)
	}
	defer cur.Close(ctx)
	out := []bson.Raw{}
	for cur.Next(ctx) {
		out = append(out, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("list indexes of %s.%s: %w", coll.Database().Name(), coll.Name(), err)
	}
	return out, nil
}

// collStats fills estimate and size from collStats, which is fast on every server
// (a count is a full scan on FerretDB). Failures only cost the estimate.
func collStats(ctx context.Context, db *mongo.Database, info *collectionInfo) {
	var res struct {
		Count any `bson:"count"`
		Size  any `bson:"size"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "collStats", Value: info.dataColl}}).Decode(&res); err != nil {
		return
	}
	info.estimate = toInt64(res.Count)
	info.size = toInt64(res.Size)
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// serverInfo is what buildInfo tells a dump about the server.
type serverInfo struct {
	// version is the version mongorestore expects in the archive's header.
	version string
	// scanByID: the server pages a natural-order scan wrongly, so collections are read in
	// _id order. FerretDB v2 (DocumentDB, v2.7 at least) returns documents again in the
	// getMore batches of a natural-order scan once documents were updated: 4,719 read of a
	// collection of 4,600 (TestDumpOfUpdatedCollectionHoldsEachDocumentOnce). Its
	// _id-ordered scan pages correctly.
	scanByID bool
}

// readServerInfo asks buildInfo for the server's version and identity.
func readServerInfo(ctx context.Context, client *mongo.Client) (serverInfo, error) {
	var res struct {
		Version  string `bson:"version"`
		FerretDB struct {
			Version string `bson:"version"`
		} `bson:"ferretdb"`
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&res); err != nil {
		return serverInfo{}, fmt.Errorf("buildInfo: %w", err)
	}
	return serverInfo{version: res.Version, scanByID: strings.HasPrefix(res.FerretDB.Version, "v2.")}, nil
}
