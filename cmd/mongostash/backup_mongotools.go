package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mongostash/mongostash/dump"
)

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
