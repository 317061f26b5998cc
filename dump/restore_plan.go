package dump

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
)

// target is where one archive namespace goes, decided from the prelude before any data moves.
type target struct {
	entry    archive.Entry
	source   string            // logical source namespace, as the user names it
	dataNS   string            // namespace of the data blocks in the archive
	db, coll string            // logical target
	dataColl string            // collection that receives the documents (time-series: buckets)
	meta     *archive.Metadata // nil when the entry has no metadata
	kind     targetKind
}

type targetKind int

const (
	kindCollection targetKind = iota
	kindView
	kindTimeseries
	kindOplog
	kindAuthUsers // users for _mergeAuthzCollections
	kindAuthRoles // roles for _mergeAuthzCollections
)

func (t *target) namespace() string { return t.db + "." + t.coll }

// isCollection: the target is a collection or view of a database (not the oplog, nor
// users and roles, which are applied through commands).
func (t *target) isCollection() bool {
	return t.kind != kindOplog && t.kind != kindAuthUsers && t.kind != kindAuthRoles
}

// plan maps every prelude entry to a target, or to a reason it is skipped.
type plan struct {
	targets map[string]*target // by data namespace
	skipped map[string]string  // data namespace -> why
	order   []string           // data namespaces of targets in prelude order
	// emptyUnlessReplayed is the error of a restore whose filter left only an oplog to
	// replay, returned if the replay writes nothing either (nil otherwise).
	emptyUnlessReplayed error
}

// makePlan applies the filters and renames to the prelude (docs/archive-format.md §5.4 and §6).
func makePlan(p *archive.Prelude, opts RestoreOptions) (*plan, error) {
	pl := &plan{targets: map[string]*target{}, skipped: map[string]string{}}
	byTarget := map[string]string{}
	for _, e := range p.Entries {
		dataNS, err := e.DataNamespace(p.Header.ServerVersion)
		if err != nil {
			return nil, err
		}
		source := e.Namespace()
		if reason := skipReason(e, opts); reason != "" {
			pl.skipped[dataNS] = reason
			continue
		}
		_, isAuth := authKind(e)
		isOplog := e.DB == "" && e.Collection == "oplog" // filtered entry by entry by the replay
		if opts.Filter != nil && !opts.Filter.Match(source) && !(isAuth && opts.UsersAndRoles) && !isOplog {
			pl.skipped[dataNS] = skippedByFilter
			continue
		}
		t := &target{entry: e, source: source, dataNS: dataNS}
		if kind, ok := authKind(e); ok && opts.UsersAndRoles {
			t.kind = kind
			pl.targets[dataNS] = t
			pl.order = append(pl.order, dataNS)
			continue
		}
		if isOplog {
			t.kind = kindOplog
			pl.targets[dataNS] = t
			pl.order = append(pl.order, dataNS)
			continue
		}
		dest := source
		if opts.Renamer != nil {
			dest = opts.Renamer.Rename(source)
		}
		t.db, t.coll = ns.Split(dest)
		if t.db == "" || t.coll == "" {
			return nil, fmt.Errorf("restore %s: target namespace %q is not <db>.<collection>", source, dest)
		}
		if err := validateDBName(t.db); err != nil {
			return nil, fmt.Errorf("restore %s: %w", source, err)
		}
		if prev, dup := byTarget[dest]; dup {
			return nil, fmt.Errorf("restore: %s and %s would both be restored into %s", prev, source, dest)
		}
		byTarget[dest] = source
		t.dataColl = t.coll
		if e.Metadata != "" {
			md, err := archive.ParseMetadata(e.Metadata)
			if err != nil {
				return nil, fmt.Errorf("restore %s: metadata: %w", source, err)
			}
			t.meta = md
		}
		switch e.Type {
		case "view":
			t.kind = kindView
		case "timeseries":
			t.kind = kindTimeseries
			if dataNS != source { // buckets namespace (servers before 8.3)
				t.dataColl = "system.buckets." + t.coll
			}
		}
		pl.targets[dataNS] = t
		pl.order = append(pl.order, dataNS)
	}
	return pl, nil
}

// skippedByFilter is the reason of RestoreStats.Skipped for a namespace the filter left out.
const skippedByFilter = "excluded by namespace filter"

// checkNotEmpty refuses a plan from which the namespace filter removed every collection: a
// restore that restores nothing because of a mistyped database name must not look
// successful. An archive that holds nothing at all (an empty backup) is not refused. When
// only an oplog is left to replay (the archive's, or chunks of a point-in-time restore),
// the verdict waits for the replay: its entries may create a selected collection, and if
// they write nothing the restore fails with the same error (plan.emptyUnlessReplayed).
func (pl *plan) checkNotEmpty(p *archive.Prelude, moreOplog bool) error {
	oplogLeft := moreOplog
	for _, t := range pl.targets {
		if t.kind != kindOplog {
			return nil
		}
		oplogLeft = true
	}
	filtered := false
	for _, why := range pl.skipped {
		filtered = filtered || why == skippedByFilter
	}
	if !filtered {
		return nil
	}
	seen := map[string]bool{}
	var dbs []string
	for _, e := range p.Entries {
		if e.DB != "" && !seen[e.DB] {
			seen[e.DB] = true
			dbs = append(dbs, e.DB)
		}
	}
	sort.Strings(dbs)
	err := fmt.Errorf("%w (the archive holds the databases %s)", ErrNothingToRestore, strings.Join(dbs, ", "))
	if oplogLeft {
		pl.emptyUnlessReplayed = err
		return nil
	}
	return err
}

// Reasons in RestoreStats.Skipped for entries that were left out because their restore
// was not asked for (the caller may say how to ask).
const (
	SkipOplog         = "oplog (replay not requested)"
	SkipUsersAndRoles = "users and roles (not requested)"
)

// skipReason says why an entry is never restored as data, or "" when it is.
func skipReason(e archive.Entry, opts RestoreOptions) string {
	switch {
	case e.DB == "" && e.Collection == "oplog":
		if !opts.OplogReplay {
			return SkipOplog
		}
		return ""
	case e.DB == "":
		return "entry without a database"
	case e.Collection == "$admin.system.version" || (e.DB == "admin" && e.Collection == "system.version"):
		return "auth schema version (never inserted)"
	case strings.HasPrefix(e.Collection, "$admin.system.") || (e.DB == "admin" && (e.Collection == "system.users" || e.Collection == "system.roles")):
		if !opts.UsersAndRoles {
			return SkipUsersAndRoles
		}
		return ""
	case e.Collection == "system.profile":
		return "profiler data"
	case e.DB == "admin" && e.Collection == "system.views", strings.HasPrefix(e.Collection, "system.views"):
		return "view definitions (views are restored from their own entries)"
	}
	return ""
}

func validateDBName(db string) error {
	if len(db) > 63 {
		return fmt.Errorf("database name %q is longer than 63 bytes", db)
	}
	if strings.ContainsAny(db, "/\\. \"$\x00") {
		return fmt.Errorf("database name %q contains a character MongoDB forbids", db)
	}
	return nil
}

// authKind recognises the users and roles entries of an archive: admin's own, or the
// `$admin.*` entries of a single-database dump.
func authKind(e archive.Entry) (targetKind, bool) {
	switch {
	case e.Collection == "$admin.system.users" || (e.DB == "admin" && e.Collection == "system.users"):
		return kindAuthUsers, true
	case e.Collection == "$admin.system.roles" || (e.DB == "admin" && e.Collection == "system.roles"):
		return kindAuthRoles, true
	}
	return 0, false
}
