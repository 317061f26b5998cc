package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/internal/daemon"
	"github.com/mongostash/mongostash/stream"
)

type verifyCmd struct {
	Store StoreFlags       `embed:"" group:"Storage"`
	Age   AgeIdentityFlags `embed:"" group:"Encryption"`

	Key   string `arg:"" optional:"" default:"latest" help:"Backup key to verify, or 'latest'."`
	From  string `name:"from" env:"VERIFY_FROM" placeholder:"FILE" help:"Verify a local archive file instead ('-' for standard input)."`
	Oplog bool   `name:"oplog" env:"VERIFY_OPLOG" help:"Verify every complete oplog chunk of point-in-time recovery against its manifest instead of a backup (writes nothing)."`
}

// Help is the long help of the verify command: examples.
func (verifyCmd) Help() string {
	return `Needs no MongoDB: decodes the whole backup, checks every CRC, and the stored object
against its manifest (size, SHA-256, per-namespace counts and CRCs). Exit 1 if anything differs.

Examples:
  mongostash verify                                      # the latest backup
  mongostash verify backup-2026-11-25T18:48:54.123456Z.dump.zst
  mongostash verify --from ./backup.dump.zst             # a local file ('-' for standard input)
  mongostash verify --oplog                              # every archived oplog chunk
  AGE_IDENTITY_FILE=key.txt mongostash verify latest     # an encrypted backup`
}

func (c *verifyCmd) Run(ctx context.Context, a *app) error {
	ids, err := c.Age.identities(a)
	if err != nil {
		return err
	}
	if c.Oplog {
		if c.From != "" || c.Key != "latest" {
			return usagef("verify --oplog checks the store's oplog chunks: leave out --from and the backup key")
		}
		return c.verifyOplog(ctx, a, ids)
	}
	src, err := openSource(ctx, a, c.From, c.Key, &c.Store)
	if err != nil {
		return err
	}
	defer src.Close()
	start := time.Now()
	stored := newStoredReader(src)
	plain, layers, err := stream.Open(stored, ids)
	if err != nil {
		return fmt.Errorf("verify %s: %w", src.name, decryptHint(err, src.manifest))
	}
	defer plain.Close()
	progress := &dump.Progress{}
	progress.PlannedDocuments.Store(src.plannedDocuments())
	stop := startProgress(a, "verify", progress)
	vs, err := dump.Verify(ctx, plain, progress)
	stop()
	if err != nil {
		return fmt.Errorf("verify %s: %w", src.name, err)
	}
	for _, n := range vs.Namespaces {
		fmt.Fprintf(a.stdout, "%-50s %10d docs  crc %016x\n", n.Namespace, n.Documents, n.CRC)
	}
	if err := stored.check(vs.Namespaces); err != nil {
		return fmt.Errorf("verify %s: %w", src.name, err)
	}
	manifestState := "no manifest (legacy or local file): checked the archive's own CRCs only"
	if src.manifest != nil {
		manifestState = "manifest: size, SHA-256 and per-namespace counts and CRCs checked"
	}
	if src.manifest != nil && src.manifest.Oplog != nil {
		o := src.manifest.Oplog
		fmt.Fprintf(a.stdout, "consistent at %s (oplog %d,%d to %d,%d, %d entries)\n",
			o.End.Time().Format(time.RFC3339), o.Start.T, o.Start.I, o.End.T, o.End.I, o.Entries)
	}
	a.log.Info("backup verified", "source", src.name, "compression", layers.Compression, "encryption", layers.Encryption.String(), "collections", len(vs.Namespaces),
		"documents", vs.Documents, "size", stored.n, "sha256", stored.sha256(),
		"server_version", vs.Prelude.Header.ServerVersion, "detail", manifestState,
		"duration_seconds", daemon.Seconds(time.Since(start)))
	return nil
}
