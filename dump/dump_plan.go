package dump

import (
	"context"
	"sort"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump/archive"
)

// dumpPlan is what a dump will read, decided from the server's listings before any
// document moves.
type dumpPlan struct {
	version string
	dbs     []string
	colls   []collectionInfo // in the order they are read
	auth    []authSource
}

// planDump lists the databases, collections (with options and indexes) and, when asked,
// the users and roles to dump, and orders the collections as mongodump does.
func planDump(ctx context.Context, client *mongo.Client, opts DumpOptions) (*dumpPlan, error) {
	server, err := readServerInfo(ctx, client)
	if err != nil {
		return nil, err
	}
	p := &dumpPlan{version: server.version, dbs: opts.Databases}
	if len(p.dbs) == 0 {
		if p.dbs, err = listDatabases(ctx, client, opts.IncludeConfig); err != nil {
			return nil, err
		}
	}
	for _, name := range p.dbs {
		list, err := listCollections(ctx, client.Database(name), server.version)
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if opts.Filter != nil && !opts.Filter.Match(c.namespace()) {
				continue
			}
			if !c.view {
				collStats(ctx, client.Database(name), &c)
			}
			c.byID = server.scanByID && !c.capped
			p.colls = append(p.colls, c)
		}
	}
	if len(p.colls) == 0 && !opts.AllowEmpty {
		return nil, ErrNothingToDump
	}
	if opts.UsersAndRoles {
		if p.auth, err = authEntries(ctx, client, p.dbs, len(opts.Databases) == 0); err != nil {
			return nil, err
		}
	}
	// mongodump's order: views first, then the largest collections, so the longest
	// scans start early and the tail of the dump is short.
	sort.SliceStable(p.colls, func(i, j int) bool {
		if p.colls[i].view != p.colls[j].view {
			return p.colls[i].view
		}
		return p.colls[i].estimate > p.colls[j].estimate
	})
	return p, nil
}

// prelude is the archive's header and namespace list: the users and roles first, then
// the collections in reading order. It also plans the progress counters.
func (p *dumpPlan) prelude(opts DumpOptions) archive.Prelude {
	prelude := archive.Prelude{Header: archive.Header{
		ConcurrentCollections: int32(opts.Parallel),
		Version:               "0.1",
		ServerVersion:         p.version,
		ToolVersion:           opts.ToolVersion,
	}}
	for _, a := range p.auth {
		prelude.Entries = append(prelude.Entries, a.entry)
	}
	for _, c := range p.colls {
		prelude.Entries = append(prelude.Entries, c.entry)
		if opts.Progress != nil {
			opts.Progress.PlannedDocuments.Add(c.estimate)
			opts.Progress.PlannedBytes.Add(c.size)
		}
	}
	if opts.Oplog {
		prelude.Entries = append(prelude.Entries, oplogEntry) // last, as mongodump lists it
	}
	return prelude
}

// stats sums up what was dumped, namespaces sorted by name.
func (p *dumpPlan) stats(results []NamespaceStats) DumpStats {
	st := DumpStats{ServerVersion: p.version, Databases: p.dbs, Namespaces: results}
	sort.Slice(st.Namespaces, func(i, j int) bool { return st.Namespaces[i].Namespace < st.Namespaces[j].Namespace })
	for _, r := range results {
		st.Documents += r.Documents
		st.Bytes += r.Bytes
	}
	return st
}
