package pitr

import (
	"errors"
	"log/slog"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

// Defaults of Options; the CLI documents the first two as PITR_INTERVAL and
// PITR_CHUNK_SIZE.
const (
	DefaultInterval  = 10 * time.Minute
	DefaultChunkSize = 16 << 20
	DefaultPoll      = time.Second
	// DefaultFlushTimeout bounds the last chunk's read and upload after shutdown began:
	// Kubernetes kills a pod 30 s after SIGTERM unless told otherwise.
	DefaultFlushTimeout = 20 * time.Second
	defaultRetryMin     = time.Second
	defaultRetryMax     = time.Minute
	defaultBatch        = 1000
)

// Options configure an Archiver.
type Options struct {
	Store  storage.Store
	Prefix string // the store's key prefix, as backups use it ("" or ending in '/')

	// Interval: a chunk is written once its first entry is this old (default 10m).
	Interval time.Duration
	// ChunkSize: a chunk is written once its plain BSON reaches this many bytes (default
	// 16 MiB). It is also what bounds memory: a chunk is kept, encoded, until stored.
	ChunkSize int64
	// Poll is the pause between two reads of the oplog (default 1s). The archive lags the
	// oplog by about one Poll: a read stops at the newest entry the previous poll saw, so
	// that an entry whose timestamp was taken before it but written after (FerretDB
	// writes concurrent entries out of timestamp order) is not skipped.
	Poll time.Duration
	// FlushTimeout bounds the final read and upload at shutdown (default 20s).
	FlushTimeout time.Duration
	// RetryMin and RetryMax bound the pause before a failed read or upload is tried again;
	// it doubles from RetryMin up to RetryMax (defaults 1s and 1m).
	RetryMin, RetryMax time.Duration
	// LeaseTTL is how long the prefix's lease lasts unrenewed (default 2m): the archiver
	// renews it every quarter of that, stops writing once it went unrenewed for half, and
	// another archiver may take it over once it expired (docs/pitr.md).
	LeaseTTL time.Duration

	Encoding stream.Encoding // compression (zstd by default) and age recipients

	// Namespaces selects the namespaces whose entries are archived (nil: all), Databases
	// the databases (empty: all), as for a backup's oplog; Scope is that selection as the
	// user gave it, recorded in every chunk manifest. A chunk holds only the selected
	// entries, but its range covers every entry read, so the chain stays contiguous.
	Namespaces func(ns string) bool
	Databases  []string
	Scope      catalog.ChunkScope

	ToolVersion string
	Logger      *slog.Logger
	// OnChunk, when set, is called after each chunk is complete (the CLI writes its metrics
	// file then). It must not block for long.
	OnChunk func(ChunkInfo)
}

// ChunkInfo is a chunk just completed.
type ChunkInfo struct {
	Key      string
	Manifest catalog.ChunkManifest
}

func (o *Options) setDefaults() error {
	if o.Store == nil {
		return errors.New("pitr: no store")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = DefaultFlushTimeout
	}
	if o.RetryMin <= 0 {
		o.RetryMin = defaultRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(defaultRetryMax, o.RetryMin)
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Encoding.Compression == "" {
		o.Encoding.Compression = stream.Zstd
	}
	if !o.Encoding.Compression.Valid() {
		return errors.New("pitr: unknown compression " + string(o.Encoding.Compression))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
