package oplog

import (
	"context"
	"strings"
)

// TargetFunc decides where the entries of a source namespace ("db.collection") go: the
// target namespace, or ok=false to leave them out. Restore uses it for namespace filters,
// renames, and the temporary collections of --drop. It is called once per namespace.
type TargetFunc func(ctx context.Context, ns string) (target string, ok bool, err error)

// configCollectionsKept are the config collections a dump keeps (and a replay applies),
// as mongodump and mongorestore do; the rest of config is the server's own bookkeeping.
var configCollectionsKept = map[string]bool{
	"chunks": true, "collections": true, "databases": true, "settings": true,
	"shards": true, "tags": true, "version": true,
}

// internalReason says why the entries of ns are never replayed, or "" when they are:
// databases and collections that belong to the server, not to the data.
func internalReason(ns string) string {
	db, coll, _ := strings.Cut(ns, ".")
	switch {
	case db == "local":
		return "local database"
	case strings.HasPrefix(db, "__mdb_internal"):
		return "server-internal database"
	case db == "config" && !configCollectionsKept[coll]:
		return "server bookkeeping in config"
	case db == "admin" && strings.HasPrefix(coll, "system."):
		return "users, roles and server settings (admin.system.*)"
	case strings.HasPrefix(coll, "system.buckets.") || coll == "system.js":
		return ""
	case strings.HasPrefix(coll, "system."):
		return "system collection " + coll
	}
	return ""
}

type resolved struct {
	target string
	ok     bool
}

// resolve maps a source namespace to its target, with the built-in exclusions first.
func (r *Replayer) resolve(ctx context.Context, ns string) (string, bool, error) {
	if res, seen := r.targets[ns]; seen {
		return res.target, res.ok, nil
	}
	res := resolved{target: ns, ok: true}
	if internalReason(ns) != "" {
		res = resolved{}
	} else if r.opts.Target != nil {
		t, ok, err := r.opts.Target(ctx, ns)
		if err != nil {
			return "", false, err
		}
		res = resolved{target: t, ok: ok}
	}
	r.targets[ns] = res
	if res.ok {
		r.known[ns] = true
	}
	return res.target, res.ok, nil
}

// splitNS splits "db.collection" at the first dot.
func splitNS(ns string) (db, coll string) {
	db, coll, _ = strings.Cut(ns, ".")
	return db, coll
}
