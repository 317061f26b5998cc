package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/stream"
)

type restoreCmd struct {
	Mongo MongoFlags       `embed:"" group:"MongoDB"`
	Store StoreFlags       `embed:"" group:"Storage"`
	Age   AgeIdentityFlags `embed:"" group:"Encryption"`

	Object           string   `arg:"" optional:"" name:"key" env:"S3_DUMP_OBJECT" help:"Backup key to restore; empty or 'latest' means the newest complete backup."`
	From             string   `name:"from" env:"RESTORE_FROM" placeholder:"FILE" help:"Restore from a local archive file instead ('-' for standard input)."`
	NsInclude        []string `name:"ns-include" env:"RESTORE_NS_INCLUDE" help:"Only namespaces matching these patterns (mongorestore wildcards)."`
	NsExclude        []string `name:"ns-exclude" env:"RESTORE_NS_EXCLUDE" help:"Leave out namespaces matching these patterns."`
	NsFrom           []string `name:"ns-from" env:"RESTORE_NS_FROM" help:"Rename: source namespace pattern (pairs with --ns-to; '*' or \\$var\\$ placeholders)."`
	NsTo             []string `name:"ns-to" env:"RESTORE_NS_TO" help:"Rename: target namespace pattern."`
	Drop             bool     `name:"drop" env:"RESTORE_DROP" help:"Replace existing collections — only after the whole backup proved good; a bad backup leaves them untouched."`
	DryRun           bool     `name:"dry-run" env:"RESTORE_DRY_RUN" help:"Decode and verify the backup and print what would be restored; write nothing."`
	NoIndexRestore   bool     `name:"no-index-restore" env:"RESTORE_NO_INDEX_RESTORE" help:"Do not build the backup's indexes."`
	Bypass           bool     `name:"bypass-document-validation" env:"RESTORE_BYPASS_DOCUMENT_VALIDATION" help:"Insert documents even if they fail the collection's validator."`
	StopOnError      bool     `name:"stop-on-error" env:"RESTORE_STOP_ON_ERROR" help:"Stop at the first document the server refuses."`
	OplogReplay      string   `name:"oplog-replay" env:"RESTORE_OPLOG_REPLAY" default:"auto" enum:"auto,true,false" help:"Replay the backup's oplog after the collections, to its consistent moment: auto = when the backup has one; true = required."`
	OplogLimit       string   `name:"oplog-limit" env:"RESTORE_OPLOG_LIMIT" placeholder:"TS|TIME" help:"Replay only the oplog entries before this point (exclusive: an RFC 3339 time or <seconds> leaves out its whole second, <seconds>,<ordinal> that entry and every later one), as mongorestore's --oplogLimit."`
	UsersAndRoles    bool     `name:"users-and-roles" env:"RESTORE_USERS_AND_ROLES" help:"Also restore the backup's users and roles (merged by the server with _mergeAuthzCollections)."`
	PreserveUUID     bool     `name:"preserve-uuid" env:"RESTORE_PRESERVE_UUID" help:"Create collections with the UUIDs of the backup (needs --drop)."`
	BatchSize        int      `name:"batch-size" env:"RESTORE_BATCH_SIZE" default:"1000" range:"1..100000" help:"Documents per insert (a batch is also cut at 16 MiB)."`
	Workers          int      `name:"insertion-workers" env:"RESTORE_INSERTION_WORKERS" default:"4" range:"1..64" help:"Inserts in flight at once, shared by all collections: one large collection can have them all (mongotools engine: insertion workers per collection)."`
	Engine           string   `name:"engine" env:"RESTORE_ENGINE" default:"native" enum:"native,mongotools" help:"native: insert through the Go driver; mongotools: pipe the archive into the external mongorestore --archive (fallback)."`
	ToTime           string   `name:"to-time" env:"RESTORE_TO_TIME" placeholder:"TIME|TS" help:"Point-in-time recovery: restore the newest base backup consistent before this point, then replay the archived oplog chunks up to it (inclusive: an RFC 3339 time or <seconds> takes every write of its second, <seconds>,<ordinal> up to and including that entry, latest the newest point a recovery window reaches; see docs/pitr.md)."`
	MongorestorePath string   `name:"mongorestore-path" env:"MONGORESTORE_PATH" help:"mongorestore binary for --engine mongotools (default: found on PATH)."`

	Metrics RestoreMetricsFlags `embed:"" group:"Metrics"`
}

// RestoreMetricsFlags are the metrics destinations of DaemonFlags, for restore, which never
// runs on a schedule.
type RestoreMetricsFlags struct {
	MetricsFile string `name:"metrics-file" env:"METRICS_FILE" type:"path" placeholder:"PATH" help:"After the restore, write its metrics to this Prometheus textfile (for node_exporter's textfile collector; replaced atomically)."`
	Pushgateway string `name:"pushgateway" env:"PUSHGATEWAY_URL" placeholder:"URL" help:"After the restore, push its metrics to this Prometheus Pushgateway (job mongostash, grouped by operation and database)."`
}

// Help is the long help of the restore command: what it picks, and examples.
func (restoreCmd) Help() string {
	return `Restores KEY (or S3_DUMP_OBJECT), else the newest complete backup, after checking it
against its manifest; exits 1 if any document was refused or nothing matched the filters.

Examples:
  mongostash restore --dry-run                           # read and check the latest backup, write nothing
  mongostash restore --drop                              # replace the collections, all or nothing
  mongostash restore --ns-from 'shop.*' --ns-to 'shop_copy.*' backup-2026-11-25T18:48:54.123456Z.dump.zst
  mongostash restore --to-time 2026-11-25T18:48:54Z --drop    # point in time, from pitr's chunks
  AGE_IDENTITY_FILE=key.txt mongostash restore --from backup.dump.zst.age`
}

func (c *restoreCmd) Run(ctx context.Context, a *app) error {
	flags := &DaemonFlags{MetricsFile: c.Metrics.MetricsFile, Pushgateway: c.Metrics.Pushgateway}
	return operation{name: "restore", database: c.Mongo.Database, flags: flags, once: c.once}.run(ctx, a)
}

func (c *restoreCmd) once(ctx context.Context, a *app) (daemon.Result, error) {
	opts, ids, pt, err := c.plan(ctx, a)
	if err != nil {
		return daemon.Result{}, err
	}
	object := c.Object
	if pt != nil {
		defer pt.close()
		object = pt.configure(&opts)
	}
	var client *mongo.Client
	if !c.DryRun {
		if client, err = c.Mongo.connect(ctx, a); err != nil {
			return daemon.Result{}, err
		}
		defer client.Disconnect(context.WithoutCancel(ctx))
		opts.WriteConcern = c.Mongo.writeConcern()
	}
	var src *source
	if pt != nil {
		src, err = pt.openBase(ctx) // from the catalog the plan read
	} else {
		src, err = openSource(ctx, a, c.From, object, &c.Store)
	}
	if err != nil {
		return daemon.Result{}, err
	}
	defer src.Close()
	counted := newStoredReader(src)
	// A missing or wrong identity fails here, before anything is written.
	plain, layers, err := stream.Open(counted, ids)
	if err != nil {
		return daemon.Result{}, fmt.Errorf("restore %s: %w (nothing was written)", src.name, decryptHint(err, src.manifest))
	}
	defer plain.Close()
	a.log.Info("restore started", "source", src.name, "compression", layers.Compression, "encryption", layers.Encryption.String(), "drop", c.Drop, "dry_run", c.DryRun, "engine", c.Engine)
	if c.Engine == "mongotools" {
		// mongorestore inserts by itself: only the bytes read are known here.
		err := c.mongorestore(ctx, a, plain, src.name)
		return daemon.Result{Bytes: counted.n}, err
	}
	return c.restoreNative(ctx, a, client, src, counted, plain, opts, pt)
}

// plan checks the flags and plans the restore before anything is opened: the scope, the
// identities, the oplog limit and, with --to-time, the base backup and the chunks.
func (c *restoreCmd) plan(ctx context.Context, a *app) (dump.RestoreOptions, *stream.Identities, *pointInTime, error) {
	if err := checkEndpoint(c.Store.Endpoint); err != nil { // before MongoDB is waited for
		return dump.RestoreOptions{}, nil, nil, err
	}
	filter, err := namespaceFilter(c.Mongo.Database, c.NsInclude, c.NsExclude)
	if err != nil {
		return dump.RestoreOptions{}, nil, nil, err
	}
	var renamer *ns.Renamer
	if len(c.NsFrom) > 0 || len(c.NsTo) > 0 {
		if renamer, err = ns.NewRenamer(c.NsFrom, c.NsTo); err != nil {
			return dump.RestoreOptions{}, nil, nil, usagef("--ns-from/--ns-to: %v", err)
		}
	}
	ids, err := c.Age.identities(a)
	if err != nil {
		return dump.RestoreOptions{}, nil, nil, err
	}
	limit, err := c.oplogLimit()
	if err != nil {
		return dump.RestoreOptions{}, nil, nil, err
	}
	pt, err := c.planPointInTime(ctx, a, ids)
	if err != nil {
		return dump.RestoreOptions{}, nil, nil, err
	}
	return c.restoreOptions(a, filter, renamer, limit), ids, pt, nil
}

// restoreNative restores the opened archive plain through the driver and reports it.
func (c *restoreCmd) restoreNative(ctx context.Context, a *app, client *mongo.Client, src *source, counted *storedReader, plain io.Reader, opts dump.RestoreOptions, pt *pointInTime) (daemon.Result, error) {
	log := a.log.With("source", src.name)
	start := time.Now()
	if src.manifest != nil {
		// Before anything is replaced: the object must be the one its manifest describes.
		opts.CheckArchive = func(_ context.Context, namespaces []dump.NamespaceStats) error {
			return counted.check(namespaces)
		}
	}
	opts.Progress.PlannedDocuments.Store(src.plannedDocuments())
	src.planNamespaces(opts.Progress)
	stop := startProgress(a, "restore", opts.Progress)
	stats, err := dump.Restore(ctx, client, plain, opts)
	stop()
	logRestoreStats(log, stats)
	if err != nil {
		if errors.Is(err, dump.ErrDocumentsFailed) && len(stats.Errors) > 0 {
			return daemon.Result{}, fmt.Errorf("restore %s: %w; first: %s%s", src.name, err, strings.Join(stats.Errors[:min(3, len(stats.Errors))], "; "), duplicatesHint(stats))
		}
		return daemon.Result{}, fmt.Errorf("restore %s: %w", src.name, withHint(err))
	}
	if o := stats.Oplog; o != nil && o.Entries > 0 && !c.DryRun {
		log = log.With("oplog_entries", o.Entries, "restored_to", o.Last.Time().Format(time.RFC3339))
	}
	if pt != nil {
		log = log.With("target", pt.plan.Target.String(), "chunk_entries", pt.read.Applied)
		if c.DryRun {
			if err := pt.printDryRun(a); err != nil {
				return daemon.Result{}, err
			}
		}
	}
	log.Info(c.doneMessage(src.manifest != nil), "collections", len(stats.Namespaces), "documents", stats.Inserted,
		"read_bytes", counted.n, "duration_seconds", daemon.Seconds(time.Since(start)), "throughput_mb_s", daemon.MBPerSecond(counted.n, time.Since(start)))
	return daemon.Result{Bytes: counted.n, Documents: stats.Inserted}, nil
}

// doneMessage is the last line of a restore that succeeded.
func (c *restoreCmd) doneMessage(withManifest bool) string {
	switch {
	case !c.DryRun:
		return "restore complete"
	case withManifest:
		return "dry run complete: the backup decodes, every checksum matches and it is the backup its manifest describes; nothing was written"
	default:
		return "dry run complete: the backup decodes and every checksum matches; nothing was written"
	}
}

// restoreOptions are the dump options the flags give.
func (c *restoreCmd) restoreOptions(a *app, filter dump.NamespaceFilter, renamer *ns.Renamer, limit optime.Timestamp) dump.RestoreOptions {
	return dump.RestoreOptions{
		Filter: filter, Renamer: renamer, Drop: c.Drop, DryRun: c.DryRun,
		NoIndex: c.NoIndexRestore, Bypass: c.Bypass, StopOnError: c.StopOnError,
		OplogReplay: c.OplogReplay != "false", OplogRequired: c.OplogReplay == "true", OplogLimit: limit,
		BatchDocs: c.BatchSize, Workers: c.Workers,
		UsersAndRoles: c.UsersAndRoles, PreserveUUID: c.PreserveUUID,
		Progress: &dump.Progress{}, Logger: a.log,
	}
}

// logRestoreStats logs what the restore did namespace by namespace.
func logRestoreStats(log *slog.Logger, stats dump.RestoreStats) {
	for _, n := range stats.Namespaces {
		log.Info("namespace", "namespace", n.Namespace, "inserted", n.Documents, "failed", n.Failed)
	}
	for k, why := range stats.Skipped {
		log.Debug("skipped", "namespace", k, "reason", skipHint(why))
	}
	// A restore into a database that already holds the data has every document refused:
	// a few of them say what the refusals are like, one line says what to do.
	for _, e := range stats.Errors[:min(shownRefusals, len(stats.Errors))] {
		log.Warn("document refused", "error", e)
	}
	if stats.Duplicates > 0 {
		log.Warn("documents already in the target were refused as duplicates"+duplicatesHint(stats), "duplicates", stats.Duplicates, "refused", stats.Failed)
	}
	if len(stats.Leftovers) > 0 {
		log.Warn("dropped the temporary collections of an earlier interrupted restore", "collections", strings.Join(stats.Leftovers, ", "))
	}
}

// shownRefusals is how many refused documents a restore logs one by one.
const shownRefusals = 3

// duplicatesHint says what to do about documents refused because the target already
// holds them, "" when none was.
func duplicatesHint(stats dump.RestoreStats) string {
	switch {
	case stats.Duplicates == 0:
		return ""
	case stats.Duplicates == stats.Failed:
		return fmt.Sprintf(" (all %d refused documents already exist in the target: restore with --drop to replace the collections, or beside them with --ns-from/--ns-to)", stats.Failed)
	}
	return fmt.Sprintf(" (%d of the %d refused documents already exist in the target: --drop replaces the collections, --ns-from/--ns-to restores beside them)", stats.Duplicates, stats.Failed)
}

// oplogLimit parses --oplog-limit, a Before bound (exclusive); zero when unset.
func (c *restoreCmd) oplogLimit() (optime.Timestamp, error) {
	if c.OplogLimit == "" {
		return optime.Timestamp{}, nil
	}
	ts, err := optime.ParseBefore(c.OplogLimit)
	if err != nil {
		return ts, usagef("--oplog-limit: %v", err)
	}
	return ts, nil
}
