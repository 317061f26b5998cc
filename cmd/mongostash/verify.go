package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/mongostash/mongostash/dump"
)

type verifyCmd struct {
	Store StoreFlags `embed:"" group:"Storage"`

	Key  string `arg:"" optional:"" default:"latest" help:"Backup key to verify, or 'latest'."`
	From string `name:"from" help:"Verify a local archive file instead ('-' for standard input)."`
}

func (c *verifyCmd) Run(a *app) error {
	src, err := openSource(a.ctx, a, c.From, c.Key, &c.Store)
	if err != nil {
		return err
	}
	defer src.Close()
	start := time.Now()
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(src, h)}
	plain, comp, err := dump.Decompress(counted)
	if err != nil {
		return fmt.Errorf("verify %s: %w", src.name, err)
	}
	defer plain.Close()
	progress := &dump.Progress{}
	progress.PlannedDocuments.Store(src.plannedDocuments())
	stop := startProgress(a, "verify", progress)
	vs, err := dump.Verify(a.ctx, plain, progress)
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
	a.log.Info("backup verified", "source", src.name, "compression", string(comp), "collections", len(vs.Namespaces),
		"documents", vs.Documents, "size", counted.n, "sha256", hex.EncodeToString(h.Sum(nil)),
		"server_version", vs.Prelude.Header.ServerVersion, "detail", manifestState,
		"duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// checkManifest compares what was read with what the backup's manifest promised.
func checkManifest(src *source, vs dump.VerifyStats, size int64, h hash.Hash) []string {
	m := src.manifest
	if m == nil {
		return nil
	}
	var problems []string
	if m.Size != size {
		problems = append(problems, fmt.Sprintf("size %d, manifest says %d", size, m.Size))
	}
	if sum := hex.EncodeToString(h.Sum(nil)); m.SHA256 != "" && sum != m.SHA256 {
		problems = append(problems, fmt.Sprintf("SHA-256 %s, manifest says %s", sum, m.SHA256))
	}
	got := map[string]dump.NamespaceStats{}
	for _, n := range vs.Namespaces {
		got[n.Namespace] = n
	}
	for _, want := range m.Namespaces {
		g, ok := got[want.Namespace]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: in the manifest, not in the archive", want.Namespace))
		case g.Documents != want.Documents:
			problems = append(problems, fmt.Sprintf("%s: %d documents, manifest says %d", want.Namespace, g.Documents, want.Documents))
		case want.CRC != "" && fmt.Sprintf("%016x", g.CRC) != want.CRC:
			problems = append(problems, fmt.Sprintf("%s: CRC %016x, manifest says %s", want.Namespace, g.CRC, want.CRC))
		}
	}
	return problems
}
