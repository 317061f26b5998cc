package dump

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongostash/mongostash/dump/archive"
)

// The auth collections mongodump writes with --dumpDbUsersAndRoles (docs/archive-format.md §2.4).
var authCollections = []string{"system.users", "system.roles", "system.version"}

// authEntries returns the users-and-roles namespaces to dump: admin's own auth
// collections for a dump of every database (or of admin), else the three `$admin.*`
// entries of a single-database dump, whose data are that database's users and roles.
func authEntries(ctx context.Context, client *mongo.Client, dbs []string, full bool) ([]authSource, error) {
	admin := client.Database("admin")
	if full || slices.Contains(dbs, "admin") {
		var out []authSource
		for _, name := range authCollections {
			list, err := admin.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: name}})
			if err != nil {
				return nil, fmt.Errorf("list admin.%s: %w", name, err)
			}
			if len(list) == 0 {
				continue
			}
			indexes, err := listIndexes(ctx, admin.Collection(name))
			if err != nil {
				return nil, err
			}
			md := &archive.Metadata{Indexes: indexes, CollectionName: name, Type: "collection"}
			if len(list[0].Options) > 5 {
				md.Options = list[0].Options
			}
			text, err := archive.FormatMetadata(md)
			if err != nil {
				return nil, err
			}
			out = append(out, authSource{entry: archive.Entry{DB: "admin", Collection: name, Metadata: text, Type: "collection"}, from: name})
		}
		return out, nil
	}
	var out []authSource
	for _, db := range dbs {
		for _, name := range authCollections {
			src := authSource{entry: archive.Entry{DB: db, Collection: "$admin." + name}, from: name}
			if name != "system.version" {
				src.filter = bson.D{{Key: "db", Value: db}}
			}
			out = append(out, src)
		}
	}
	return out, nil
}

// authSource is one auth namespace of the archive and where its documents come from.
type authSource struct {
	entry  archive.Entry
	from   string // collection of admin to read
	filter bson.D // nil: every document
}

// dumpAuth writes the auth namespaces completely, one after another, before any regular
// namespace: mongorestore reads them as soon as the first regular header arrives (§5.5).
func dumpAuth(ctx context.Context, client *mongo.Client, aw *archive.Writer, sources []authSource, progress *Progress) ([]NamespaceStats, error) {
	var out []NamespaceStats
	for _, s := range sources {
		nw, err := aw.Open(ctx, s.entry.DB, s.entry.Collection)
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", s.entry.Namespace(), err)
		}
		filter := s.filter
		if filter == nil {
			filter = bson.D{}
		}
		st := NamespaceStats{Namespace: s.entry.Namespace()}
		counter := progress.namespace(st.Namespace, 0)
		n, err := copyCollection(ctx, client.Database("admin").Collection(s.from), filter, options.Find().SetBatchSize(cursorBatchDocs), nw, counter)
		counter.finish()
		st.Bytes = n
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", st.Namespace, err)
		}
		if err := nw.Close(); err != nil {
			return nil, fmt.Errorf("dump %s: %w", st.Namespace, err)
		}
		st.Documents, st.CRC = nw.Count(), nw.CRC()
		out = append(out, st)
	}
	return out, nil
}

// restoreAuth merges the archive's users and roles the way mongorestore does: load them
// into admin.tempusers / admin.temproles, then let the server merge them with
// _mergeAuthzCollections, then drop the temporary collections.
func (rs *restorer) restoreAuth(ctx context.Context) error {
	if len(rs.authUsers) == 0 && len(rs.authRoles) == 0 {
		return nil
	}
	admin := rs.client.Database("admin")
	load := func(coll string, docs []bson.Raw) error {
		c := admin.Collection(coll)
		if err := c.Drop(ctx); err != nil {
			return err
		}
		if len(docs) == 0 {
			return nil
		}
		_, err := c.InsertMany(ctx, docs)
		return err
	}
	defer func() {
		_ = admin.Collection("tempusers").Drop(context.WithoutCancel(ctx))
		_ = admin.Collection("temproles").Drop(context.WithoutCancel(ctx))
	}()
	if err := load("tempusers", rs.authUsers); err != nil {
		return fmt.Errorf("users and roles: load admin.tempusers: %w", err)
	}
	if err := load("temproles", rs.authRoles); err != nil {
		return fmt.Errorf("users and roles: load admin.temproles: %w", err)
	}
	cmd := bson.D{
		{Key: "_mergeAuthzCollections", Value: 1},
		{Key: "tempUsersCollection", Value: "admin.tempusers"},
		{Key: "tempRolesCollection", Value: "admin.temproles"},
		{Key: "drop", Value: rs.opts.Drop},
		{Key: "db", Value: rs.authDB},
	}
	if err := admin.RunCommand(ctx, cmd).Err(); err != nil {
		return fmt.Errorf("users and roles: the server refused _mergeAuthzCollections: %w", err)
	}
	return nil
}
