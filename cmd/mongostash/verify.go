package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/stream"
)

type verifyCmd struct {
	Store StoreFlags       `embed:"" group:"Storage"`
	Age   AgeIdentityFlags `embed:"" group:"Encryption"`

	Key  string `arg:"" optional:"" default:"latest" help:"Backup key to verify, or 'latest'."`
	From string `name:"from" help:"Verify a local archive file instead ('-' for standard input)."`
}

func (c *verifyCmd) Run(ctx context.Context, a *app) error {
	ids, err := c.Age.identities(a)
	if err != nil {
		return err
	}
	src, err := openSource(ctx, a, c.From, c.Key, &c.Store)
	if err != nil {
		return err
	}
	defer src.Close()
	start := time.Now()
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(src, h)}
	plain, layers, err := stream.Open(counted, ids)
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
	// Read to the end of the stored object: trailing bytes after the archive also count
	// for the size and SHA-256.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return fmt.Errorf("verify %s: %w", src.name, err)
	}
	problems := checkManifest(src, vs, counted.n, h)
	for _, n := range vs.Namespaces {
		fmt.Fprintf(a.stdout, "%-50s %10d docs  crc %016x\n", n.Namespace, n.Documents, n.CRC)
	}
	manifestState := "no manifest (legacy or local file): checked the archive's own CRCs only"
	if src.manifest != nil {
		manifestState = "manifest: size, SHA-256 and per-namespace counts and CRCs checked"
	}
	if len(problems) > 0 {
		return fmt.Errorf("verify %s: %d problem(s): %s", src.name, len(problems), strings.Join(problems, "; "))
	}
	a.log.Info("backup verified", "source", src.name, "compression", layers.Compression, "encryption", layers.Encryption.String(), "collections", len(vs.Namespaces),
		"documents", vs.Documents, "size", counted.n, "sha256", hex.EncodeToString(h.Sum(nil)),
		"server_version", vs.Prelude.Header.ServerVersion, "detail", manifestState,
		"duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// checkManifest compares what was read with what the backup's manifest promised.
func checkManifest(src *source, vs dump.VerifyStats, size int64, h hash.Hash) []string {
	if src.manifest == nil {
		return nil
	}
	o := catalog.Observed{Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}
	for _, n := range vs.Namespaces {
		o.Namespaces = append(o.Namespaces, catalog.ObservedNamespace{Namespace: n.Namespace, Documents: n.Documents, CRC: n.CRC})
	}
	return src.manifest.Check(o)
}
