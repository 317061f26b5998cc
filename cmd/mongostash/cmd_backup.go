package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

type backupCmd struct {
	Mongo MongoFlags        `embed:"" group:"MongoDB"`
	Store WriteStoreFlags   `embed:"" group:"Storage"`
	Age   AgeRecipientFlags `embed:"" group:"Encryption"`

	Compression      string   `name:"compression" env:"BACKUP_COMPRESSION" default:"zstd" enum:"zstd,gzip,none" help:"Compression of the backup stream."`
	CompressionLevel int      `name:"compression-level" env:"BACKUP_COMPRESSION_LEVEL" default:"0" range:"1..22" zero:"the default (zstd 1, gzip 6)" help:"Compression level: zstd 1 to 22, gzip 1 to 9; higher trades CPU for size."`
	NsInclude        []string `name:"ns-include" env:"BACKUP_NS_INCLUDE" help:"Only namespaces matching these patterns (mongodump wildcards: 'db.*', '*.coll'; \\* for a literal star)."`
	NsExclude        []string `name:"ns-exclude" env:"BACKUP_NS_EXCLUDE" help:"Leave out namespaces matching these patterns; excludes win over includes."`
	Parallel         int      `name:"parallel" env:"BACKUP_PARALLEL" default:"4" range:"1..64" help:"Cursors reading at once, shared by all collections: a collection of at least --split-threshold is read by several of them (mongotools engine: collections dumped at once)."`
	SplitThreshold   byteSize `name:"split-threshold" env:"BACKUP_SPLIT_THRESHOLD" default:"64MiB" range:"1..1TiB" zero:"never split" help:"Read a collection of at least this size (its collStats size; bytes or with a unit: 64MiB) as --parallel _id ranges at once. Capped collections, views and time-series are never split."`
	IncludeConfig    bool     `name:"include-config" env:"BACKUP_INCLUDE_CONFIG" help:"With no database named, dump the config database too."`
	AllowEmpty       bool     `name:"allow-empty" env:"BACKUP_ALLOW_EMPTY" help:"Succeed (and store an empty backup) when there is nothing to dump."`
	UsersAndRoles    bool     `name:"users-and-roles" env:"BACKUP_USERS_AND_ROLES" help:"Also dump users and roles: admin's for a full dump, the database's own with MONGO_DATABASE."`
	Oplog            string   `name:"oplog" env:"BACKUP_OPLOG" default:"auto" enum:"auto,true,false" help:"Capture the oplog during the backup, so that it restores to one consistent moment (its end): auto = when the server is a replica-set member with a readable oplog; true = required."`
	Engine           string   `name:"engine" env:"BACKUP_ENGINE" default:"native" enum:"native,mongotools" help:"native: read through the Go driver; mongotools: run the external mongodump --archive (fallback)."`
	MongodumpPath    string   `name:"mongodump-path" env:"MONGODUMP_PATH" help:"mongodump binary for --engine mongotools (default: found on PATH)."`

	Schedule string      `name:"schedule" env:"BACKUP_SCHEDULE" placeholder:"CRON" group:"Schedule and metrics" help:"Run as a daemon and back up on this schedule: 5-field cron ('0 */6 * * *', CRON_TZ=Europe/Berlin prefix for a zone) or @every 6h, @daily, @hourly."`
	Daemon   DaemonFlags `embed:"" group:"Schedule and metrics"`
}

// Help is the long help of the backup command: what it writes, and examples.
func (backupCmd) Help() string {
	return `Writes <prefix>backup-<time>.dump.zst (a mongodump archive; .gz, none, +.age when
encrypted) and, last, its .manifest.json: a backup without a manifest is not complete.

Examples:
  mongostash backup                                      # MONGO_URL, S3_BUCKET, … from the environment
  mongostash backup --oplog=true                         # consistent at one moment; a base for pitr
  mongostash backup --ns-include 'shop.*' --ns-exclude 'shop.sessions'
  mongostash backup --age-recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  mongostash backup --schedule '0 */6 * * *' --listen :9090   # a daemon with /metrics and /healthz`
}

func (c *backupCmd) Run(ctx context.Context, a *app) error {
	return operation{name: "backup", database: c.Mongo.Database, schedule: c.Schedule, flags: &c.Daemon, once: c.once}.run(ctx, a)
}

func (c *backupCmd) once(ctx context.Context, a *app) (daemon.Result, error) {
	src, err := c.open(ctx, a)
	if err != nil {
		return daemon.Result{}, err
	}
	defer src.close(ctx)
	started := time.Now().UTC()
	key := catalog.BackupKey(c.Store.Prefix, started, src.enc.Compression, src.enc.Encryption())
	log := a.log.With("key", key)
	attrs := []any{"store", src.store.String(), "compression", src.enc.Compression, "encryption", src.enc.Encryption().String()}
	if keys := src.enc.Recipients.Keys(); keys != nil {
		attrs = append(attrs, "recipients", keys) // public keys: not secret
	}
	log.Info("backup started", attrs...)

	opts := c.dumpOptions(a, src)
	stopProgress := startProgress(a, "backup", opts.Progress)
	stats, put, err := backupStream(ctx, src.store, key, src.enc, c.producer(src.client, opts))
	stopProgress()
	if err != nil {
		return daemon.Result{}, fmt.Errorf("backup %s: %w (nothing was stored)", key, withHint(err))
	}
	finished := time.Now().UTC()
	m := backupManifest(stats, put, src.enc, started, finished)
	if o := stats.Oplog; o != nil {
		log = log.With("consistent_at", o.End.Time().Format(time.RFC3339), "oplog_entries", o.Entries)
	}
	// The manifest is written last: its presence is what marks the backup complete.
	if err := catalog.SealBackup(context.WithoutCancel(ctx), src.store, key, m); err != nil {
		return daemon.Result{}, fmt.Errorf("backup %s: the data was uploaded but the backup could not be marked complete: %w", key, err)
	}
	dur := finished.Sub(started)
	log.Info("backup complete",
		"size", put.Size, "documents", stats.Documents, "collections", len(stats.Namespaces),
		"databases", strings.Join(stats.Databases, ","), "duration_seconds", daemon.Seconds(dur), "throughput_mb_s", daemon.MBPerSecond(stats.Bytes, dur))
	return daemon.Result{Bytes: put.Size, Documents: stats.Documents}, nil
}

// backupSource is what a backup reads and where it writes, from the flags.
type backupSource struct {
	enc       stream.Encoding
	filter    dump.NamespaceFilter
	store     storage.Store
	client    *mongo.Client // nil for the mongotools engine, which connects by itself
	withOplog bool
}

// open checks the flags and connects to the store and the server, before anything is read.
func (c *backupCmd) open(ctx context.Context, a *app) (*backupSource, error) {
	enc, err := encoding(c.Compression, c.CompressionLevel)
	if err != nil {
		return nil, err
	}
	src := &backupSource{enc: enc}
	if src.filter, err = namespaceFilter("", c.NsInclude, c.NsExclude); err != nil {
		return nil, err
	}
	if src.enc.Recipients, err = c.Age.recipients(); err != nil {
		return nil, err
	}
	if src.store, err = c.Store.openForWriting(ctx, a); err != nil {
		return nil, err
	}
	// The mongotools engine connects by itself (mongodump reads MONGO_URL); the driver
	// connection is only for the native engine.
	if c.Engine == "mongotools" {
		err = c.Mongo.check(a)
	} else {
		src.client, err = c.Mongo.connect(ctx, a)
	}
	if err == nil {
		src.withOplog, err = c.oplogWanted(ctx, a, src.client)
	}
	if err != nil {
		src.close(ctx)
		return nil, err
	}
	return src, nil
}

func (s *backupSource) close(ctx context.Context) {
	if s.client != nil {
		_ = s.client.Disconnect(context.WithoutCancel(ctx))
	}
}

// dumpOptions are the dump options the flags give.
func (c *backupCmd) dumpOptions(a *app, src *backupSource) dump.DumpOptions {
	opts := dump.DumpOptions{
		Filter:        src.filter,
		Parallel:      c.Parallel,
		SplitBytes:    int64(c.SplitThreshold),
		AllowEmpty:    c.AllowEmpty,
		UsersAndRoles: c.UsersAndRoles,
		IncludeConfig: c.IncludeConfig,
		Oplog:         src.withOplog,
		ToolVersion:   "mongostash " + version,
		Logger:        a.log,
		Progress:      &dump.Progress{},
	}
	if c.Mongo.Database != "" {
		opts.Databases = []string{c.Mongo.Database}
	}
	return opts
}

// producer is what writes the archive: the native dump, or the external mongodump.
func (c *backupCmd) producer(client *mongo.Client, opts dump.DumpOptions) func(context.Context, io.Writer) (dump.DumpStats, error) {
	if c.Engine == "mongotools" {
		return c.mongodump(opts)
	}
	return func(ctx context.Context, w io.Writer) (dump.DumpStats, error) { return dump.Dump(ctx, client, w, opts) }
}

// backupManifest describes what a backup stored.
func backupManifest(stats dump.DumpStats, put storage.PutResult, enc stream.Encoding, started, finished time.Time) *catalog.Manifest {
	m := &catalog.Manifest{
		Tool:          "mongostash",
		ToolVersion:   version,
		ServerVersion: stats.ServerVersion,
		Databases:     stats.Databases,
		Compression:   enc.Compression,
		Encryption:    enc.Encryption(),
		Recipients:    enc.Recipients.Keys(),
		StartedAt:     started,
		FinishedAt:    finished,
		Size:          put.Size,
		SHA256:        put.SHA256,
	}
	for _, n := range stats.Namespaces {
		m.Namespaces = append(m.Namespaces, catalog.ManifestNamespace{Namespace: n.Namespace, Documents: n.Documents, CRC: catalog.FormatCRC(n.CRC)})
	}
	if o := stats.Oplog; o != nil {
		m.Oplog = &catalog.OplogRange{Start: o.Start, End: o.End, Entries: o.Entries}
	}
	return m
}

// oplogWanted decides whether the backup captures the oplog: --oplog=auto asks the
// server whether it is a replica-set member whose oplog this user can read.
func (c *backupCmd) oplogWanted(ctx context.Context, a *app, client *mongo.Client) (bool, error) {
	switch {
	case c.Oplog == "false":
		return false, nil
	case c.Engine == "mongotools" && c.Oplog == "true":
		return false, usagef("--oplog=true needs --engine native (mongodump captures the oplog of full dumps only, and mongostash could not record the range)")
	case c.Engine == "mongotools":
		a.log.Info("backup without an oplog: --engine mongotools does not capture one")
		return false, nil
	case c.Oplog == "true":
		return true, nil
	}
	av, err := oplog.Probe(ctx, client)
	if err != nil {
		return false, err
	}
	switch {
	case !av.ReplicaSet:
		a.log.Info("backup without an oplog: the server is not a replica-set member, so the backup is not consistent at one moment (--oplog=true to capture one anyway)")
	case !av.Readable:
		a.log.Info("backup without an oplog: the oplog cannot be read, so the backup is not consistent at one moment", "reason", av.Reason)
	}
	return av.ReplicaSet && av.Readable, nil
}

// encoding checks the compression flags, shared by backup and pitr, and returns the
// encoding they ask for (the recipients are added by the caller).
func encoding(compression string, level int) (stream.Encoding, error) {
	comp, err := stream.ParseCompression(compression)
	if err != nil {
		return stream.Encoding{}, usageError{err}
	}
	if comp == stream.Gzip && level > 9 {
		return stream.Encoding{}, usagef("--compression-level (BACKUP_COMPRESSION_LEVEL) is %d: gzip's levels are 1 to 9 (0 = the default, 6)", level)
	}
	return stream.Encoding{Compression: comp, Level: level}, nil
}
