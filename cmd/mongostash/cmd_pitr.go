package main

import (
	"context"
	"errors"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/oplog"
	"github.com/mongostash/mongostash/pitr"
)

// pitrCmd archives the oplog continuously (a Deployment, one replica per prefix). It uses
// the backup command's variables for what the two share — compression, namespace filters,
// encryption, metrics — so that one configuration serves both.
type pitrCmd struct {
	Mongo MongoFlags        `embed:"" group:"MongoDB"`
	Store WriteStoreFlags   `embed:"" group:"Storage"`
	Age   AgeRecipientFlags `embed:"" group:"Encryption"`

	Interval         time.Duration `name:"interval" env:"PITR_INTERVAL" default:"10m" range:"100ms..24h" help:"Write a chunk once its first entry is this old: about the most writes lost if the database is lost before the next chunk is stored."`
	ChunkSize        byteSize      `name:"chunk-size" env:"PITR_CHUNK_SIZE" default:"16MiB" range:"1MiB..1GiB" help:"Write a chunk once its plain BSON entries reach this size (bytes, or with a unit: 16MiB); also bounds memory: a chunk waits, compressed, until stored."`
	Poll             time.Duration `name:"poll" env:"PITR_POLL" default:"1s" range:"10ms..10m" help:"Pause between two reads of the oplog; the archive trails the oplog by about one pause and one read."`
	FlushTimeout     time.Duration `name:"flush-timeout" env:"PITR_FLUSH_TIMEOUT" default:"20s" range:"1s..1h" help:"On SIGTERM, how long the last chunk may take to be read and stored (keep it below the pod's terminationGracePeriodSeconds)."`
	LeaseTTL         time.Duration `name:"lease-ttl" env:"PITR_LEASE_TTL" default:"2m" range:"1s..24h" help:"One archiver per prefix: the lease under <prefix>oplog/ is renewed every quarter of this and expires after it; a pitr killed without stopping holds the prefix that long."`
	Compression      string        `name:"compression" env:"BACKUP_COMPRESSION" default:"zstd" enum:"zstd,gzip,none" help:"Compression of the chunks."`
	CompressionLevel int           `name:"compression-level" env:"BACKUP_COMPRESSION_LEVEL" default:"0" range:"1..22" zero:"the default (zstd 1, gzip 6)" help:"Compression level: zstd 1 to 22, gzip 1 to 9."`
	NsInclude        []string      `name:"ns-include" env:"BACKUP_NS_INCLUDE" help:"Only archive the entries of namespaces matching these patterns (as for backups)."`
	NsExclude        []string      `name:"ns-exclude" env:"BACKUP_NS_EXCLUDE" help:"Leave out the entries of namespaces matching these patterns; excludes win over includes."`

	Listen       string        `name:"listen" env:"METRICS_LISTEN" placeholder:"ADDR" group:"Metrics" help:"Serve /metrics (Prometheus) and /healthz on this address (for example :9090)."`
	HealthMaxLag time.Duration `name:"health-max-lag" env:"PITR_HEALTH_MAX_LAG" default:"0s" range:"1s..720h" zero:"twice --interval plus a minute" group:"Metrics" help:"/healthz fails when the archive trails the newest oplog entry by more than this."`
	MetricsFile  string        `name:"metrics-file" env:"METRICS_FILE" type:"path" placeholder:"PATH" group:"Metrics" help:"After each chunk, write the metrics to this Prometheus textfile (replaced atomically)."`
	Pushgateway  string        `name:"pushgateway" env:"PUSHGATEWAY_URL" placeholder:"URL" group:"Metrics" help:"After each chunk, push the metrics to this Prometheus Pushgateway (job mongostash, operation pitr)."`
}

// Help is the long help of the pitr command.
func (pitrCmd) Help() string {
	return `Runs until SIGTERM (or SIGINT), then stores the chunk in progress and exits 0. Chunks go
under <prefix>oplog/, named by their timestamp range; a chunk counts only once its manifest
is written. Archiving resumes where the last complete chunk ends; with none, at the newest
base backup's consistent point. If the oplog has lost entries meanwhile, a gap marker is
written, /healthz fails, and a new base backup is needed for times after the gap.

One archiver per prefix: pitr holds a lease (<prefix>oplog/lease.json). A second pitr on
the same prefix exits 1 at once, naming the holder and when its lease expires; an archiver
whose lease another took over stops writing at once and exits 1.

Examples:
  mongostash pitr --listen :9090                         # a Deployment's container, with /metrics and /healthz
  mongostash pitr --interval 5m                          # lose at most about 5 minutes of writes
  MONGO_DATABASE=shop mongostash pitr                    # only shop's entries
  mongostash list --windows                              # then: what restore --to-time can reach`
}

func (c *pitrCmd) Run(ctx context.Context, a *app) error {
	opts, err := c.options(a)
	if err != nil {
		return err
	}
	exp, err := newExporter(a, c.MetricsFile, c.Pushgateway)
	if err != nil {
		return err
	}
	if opts.Store, err = c.Store.openForWriting(ctx, a); err != nil {
		return err
	}
	opts.Prefix = c.Store.Prefix
	client, err := c.Mongo.connect(ctx, a)
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	var archiver *pitr.Archiver
	m := newPitrMetrics(c.Mongo.Database, func() pitr.Status { return archiver.Status() })
	opts.OnChunk = func(pitr.ChunkInfo) { exp.Export(ctx, m.reg, m.labels) }
	archiver, err = pitr.New(ctx, client, opts)
	if errors.Is(err, oplog.ErrNoOplog) {
		return usagef("%v: mongostash pitr needs a replica-set member whose oplog this user can read", err)
	}
	if err != nil {
		return err
	}
	if c.Listen != "" {
		maxLag := c.HealthMaxLag
		if maxLag <= 0 {
			maxLag = 2*c.Interval + time.Minute
		}
		stop, err := daemon.Serve(ctx, a.log, c.Listen, m.reg, &pitrHealth{status: archiver.Status, maxLag: maxLag})
		if err != nil {
			return err
		}
		defer stop()
	}
	err = archiver.Run(ctx)
	exp.Export(ctx, m.reg, m.labels)
	return err
}

// options checks the flags and turns them into the archiver's options (but the store).
func (c *pitrCmd) options(a *app) (pitr.Options, error) {
	enc, err := encoding(c.Compression, c.CompressionLevel)
	if err != nil {
		return pitr.Options{}, err
	}
	if enc.Recipients, err = c.Age.recipients(); err != nil {
		return pitr.Options{}, err
	}
	opts := pitr.Options{
		Interval: c.Interval, ChunkSize: int64(c.ChunkSize), Poll: c.Poll, FlushTimeout: c.FlushTimeout, LeaseTTL: c.LeaseTTL,
		Encoding:    enc,
		Scope:       catalog.ChunkScope{Database: c.Mongo.Database, Include: c.NsInclude, Exclude: c.NsExclude},
		ToolVersion: version,
		Logger:      a.log,
	}
	if c.Mongo.Database != "" {
		opts.Databases = []string{c.Mongo.Database}
	}
	// Without a selection every entry is archived as the server wrote it, as mongodump
	// --oplog does; with one, the entries of the selected namespaces.
	if c.Mongo.Database != "" || len(c.NsInclude) > 0 || len(c.NsExclude) > 0 {
		filter, err := namespaceFilter(c.Mongo.Database, c.NsInclude, c.NsExclude)
		if err != nil {
			return pitr.Options{}, err
		}
		opts.Namespaces = filter.Match
	}
	if keys := enc.Recipients.Keys(); keys != nil {
		a.log.Info("chunks are encrypted with age", "recipients", keys)
	}
	return opts, nil
}
