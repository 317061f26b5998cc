package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

type backupCmd struct {
	Mongo MongoFlags        `embed:"" group:"MongoDB"`
	Store StoreFlags        `embed:"" group:"Storage"`
	Age   AgeRecipientFlags `embed:"" group:"Encryption"`

	Compression      string   `name:"compression" env:"BACKUP_COMPRESSION" default:"zstd" enum:"zstd,gzip,none" help:"Compression of the backup stream."`
	CompressionLevel int      `name:"compression-level" env:"BACKUP_COMPRESSION_LEVEL" default:"0" help:"Compression level (zstd 1-22, gzip 1-9; 0 = default: zstd 1, gzip 6)."`
	NsInclude        []string `name:"ns-include" env:"BACKUP_NS_INCLUDE" help:"Only namespaces matching these patterns (mongodump wildcards: 'db.*', '*.coll'; \\* for a literal star)."`
	NsExclude        []string `name:"ns-exclude" env:"BACKUP_NS_EXCLUDE" help:"Leave out namespaces matching these patterns; excludes win over includes."`
	Parallel         int      `name:"parallel" env:"BACKUP_PARALLEL" default:"4" help:"Collections dumped at once."`
	IncludeConfig    bool     `name:"include-config" env:"BACKUP_INCLUDE_CONFIG" help:"With no database named, dump the config database too."`
	AllowEmpty       bool     `name:"allow-empty" env:"BACKUP_ALLOW_EMPTY" help:"Succeed (and store an empty backup) when there is nothing to dump."`
	UsersAndRoles    bool     `name:"users-and-roles" env:"BACKUP_USERS_AND_ROLES" help:"Also dump users and roles: admin's for a full dump, the database's own with MONGO_DATABASE."`
	Oplog            string   `name:"oplog" env:"BACKUP_OPLOG" default:"auto" enum:"auto,true,false" help:"Capture the oplog during the backup, so that it restores to one consistent moment (its end): auto = when the server is a replica-set member with a readable oplog; true = required."`
	Engine           string   `name:"engine" env:"BACKUP_ENGINE" default:"native" enum:"native,mongotools" help:"native: read through the Go driver; mongotools: run the external mongodump --archive (fallback)."`
	MongodumpPath    string   `name:"mongodump-path" env:"MONGODUMP_PATH" help:"mongodump binary for --engine mongotools (default: found on PATH)."`

	Schedule string      `name:"schedule" env:"BACKUP_SCHEDULE" placeholder:"CRON" group:"Schedule and metrics" help:"Run as a daemon and back up on this schedule: 5-field cron ('0 */6 * * *', CRON_TZ=Europe/Berlin prefix for a zone) or @every 6h, @daily, @hourly."`
	Daemon   DaemonFlags `embed:"" group:"Schedule and metrics"`
}

func (c *backupCmd) Run(ctx context.Context, a *app) error {
	return operation{name: "backup", database: c.Mongo.Database, schedule: c.Schedule, flags: &c.Daemon, once: c.once}.run(ctx, a)
}

func (c *backupCmd) once(ctx context.Context, a *app) (runResult, error) {
	comp, err := stream.ParseCompression(c.Compression)
	if err != nil {
		return runResult{}, usageError{err}
	}
	filter, err := namespaceFilter("", c.NsInclude, c.NsExclude)
	if err != nil {
		return runResult{}, err
	}
	enc := stream.Encoding{Compression: comp, Level: c.CompressionLevel}
	if enc.Recipients, err = c.Age.recipients(); err != nil {
		return runResult{}, err
	}
	store, err := c.Store.openForWriting(ctx, a)
	if err != nil {
		return runResult{}, err
	}
	// The mongotools engine connects by itself (mongodump reads MONGO_URL); the driver
	// connection is only for the native engine.
	var client *mongo.Client
	if c.Engine == "mongotools" {
		if err := c.Mongo.check(a); err != nil {
			return runResult{}, err
		}
	} else {
		if client, err = c.Mongo.connect(ctx, a); err != nil {
			return runResult{}, err
		}
		defer client.Disconnect(context.WithoutCancel(ctx))
	}
	withOplog, err := c.oplogWanted(ctx, a, client)
	if err != nil {
		return runResult{}, err
	}

	started := time.Now().UTC()
	key := catalog.BackupKey(c.Store.Prefix, started, comp, enc.Encryption())
	log := a.log.With("key", key)
	attrs := []any{"store", store.String(), "compression", comp, "encryption", enc.Encryption().String()}
	if keys := enc.Recipients.Keys(); keys != nil {
		attrs = append(attrs, "recipients", keys) // public keys: not secret
	}
	log.Info("backup started", attrs...)

	opts := dump.DumpOptions{
		Filter:        filter,
		Parallel:      c.Parallel,
		AllowEmpty:    c.AllowEmpty,
		UsersAndRoles: c.UsersAndRoles,
		IncludeConfig: c.IncludeConfig,
		Oplog:         withOplog,
		ToolVersion:   "mongostash " + version,
		Logger:        a.log,
		Progress:      &dump.Progress{},
	}
	if c.Mongo.Database != "" {
		opts.Databases = []string{c.Mongo.Database}
	}
	stopProgress := startProgress(a, "backup", opts.Progress)
	produce := func(ctx context.Context, w io.Writer) (dump.DumpStats, error) { return dump.Dump(ctx, client, w, opts) }
	if c.Engine == "mongotools" {
		produce = c.mongodump(opts)
	}
	stats, put, err := backupStream(ctx, store, key, enc, produce)
	stopProgress()
	if err != nil {
		return runResult{}, fmt.Errorf("backup %s: %w (nothing was stored)", key, withHint(err))
	}
	finished := time.Now().UTC()
	m := &catalog.Manifest{
		Tool:          "mongostash",
		ToolVersion:   version,
		ServerVersion: stats.ServerVersion,
		Databases:     stats.Databases,
		Compression:   comp,
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
		log = log.With("consistent_at", o.End.Time().Format(time.RFC3339), "oplog_entries", o.Entries)
	}
	// The manifest is written last: its presence is what marks the backup complete.
	if err := catalog.SealBackup(context.WithoutCancel(ctx), store, key, m); err != nil {
		return runResult{}, fmt.Errorf("backup %s: the data was uploaded but the backup could not be marked complete: %w", key, err)
	}
	dur := finished.Sub(started)
	log.Info("backup complete",
		"size", put.Size, "documents", stats.Documents, "collections", len(stats.Namespaces),
		"databases", strings.Join(stats.Databases, ","), "duration", dur.Round(time.Millisecond).String(),
		"throughput_mb_s", fmt.Sprintf("%.1f", float64(stats.Bytes)/1e6/max(dur.Seconds(), 1e-9)))
	return runResult{Bytes: put.Size, Documents: stats.Documents}, nil
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

// backupStream runs the pipeline driver → archive → compressor → encryption → store in one
// pass: nothing touches the local disk. If either side fails the other is stopped, and the
// store's Put, seeing its reader fail, leaves nothing behind.
func backupStream(ctx context.Context, store storage.Store, key string, enc stream.Encoding, produce func(context.Context, io.Writer) (dump.DumpStats, error)) (dump.DumpStats, storage.PutResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr, pw := io.Pipe()
	var stats dump.DumpStats
	dumpErr := make(chan error, 1)
	go func() {
		err := func() error {
			zw, err := stream.NewWriter(pw, enc)
			if err != nil {
				return err
			}
			s, err := produce(ctx, zw)
			stats = s
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
			return err
		}()
		if err != nil {
			cancel(err)
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
		dumpErr <- err
	}()
	put, putErr := store.Put(ctx, key, pr)
	if putErr != nil {
		pr.CloseWithError(putErr)
		cancel(putErr)
	}
	derr := <-dumpErr
	if derr == nil && putErr == nil {
		return stats, put, nil
	}
	// Report the first failure, not the other side's reaction to it.
	if cause := context.Cause(ctx); cause != nil {
		return stats, put, cause
	}
	return stats, put, errors.Join(derr, putErr)
}

// mongodump runs the external mongodump as the archive producer. Its archive is decoded
// on the fly as it streams past, so the manifest gets the same per-namespace counts and
// CRCs as a native backup, and a broken archive fails the backup.
func (c *backupCmd) mongodump(opts dump.DumpOptions) func(context.Context, io.Writer) (dump.DumpStats, error) {
	return func(ctx context.Context, w io.Writer) (dump.DumpStats, error) {
		args := dump.MongodumpArgs{Database: c.Mongo.Database, NsInclude: c.NsInclude, NsExclude: c.NsExclude, Parallel: c.Parallel}
		pr, pw := io.Pipe()
		verified := make(chan struct{})
		var vs dump.VerifyStats
		var verr error
		go func() {
			defer close(verified)
			vs, verr = dump.Verify(ctx, pr, opts.Progress)
			_, _ = io.Copy(io.Discard, pr)
		}()
		err := dump.RunMongodump(ctx, io.MultiWriter(w, pw), dump.ToolOptions{Path: c.MongodumpPath, URI: c.Mongo.MongoURL}, args)
		pw.CloseWithError(err)
		<-verified
		if err != nil {
			return dump.DumpStats{}, err
		}
		if verr != nil {
			return dump.DumpStats{}, fmt.Errorf("mongodump wrote an archive that does not decode: %w", verr)
		}
		st := dump.DumpStats{ServerVersion: vs.Prelude.Header.ServerVersion, Namespaces: vs.Namespaces, Documents: vs.Documents, Bytes: vs.Bytes}
		seen := map[string]bool{}
		for _, n := range vs.Namespaces {
			if db, _, ok := strings.Cut(n.Namespace, "."); ok && db != "" && !seen[db] {
				seen[db] = true
				st.Databases = append(st.Databases, db)
			}
		}
		return st, nil
	}
}
