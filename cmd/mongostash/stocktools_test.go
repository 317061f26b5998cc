package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/stream"
)

// TestStockDecompressors: our compressed backups open with the stock command-line tools
// (`zstd -d`, `gzip -d`, both in the machine image), and what they give is a plain
// mongodump archive whose every CRC checks — the fallback path of the README:
// `zstd -d < obj | mongorestore --archive`.
func TestStockDecompressors(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 500); err != nil {
		t.Fatal(err)
	}
	for comp, tool := range map[string][]string{"zstd": {"zstd", "-d", "-c"}, "gzip": {"gzip", "-d", "-c"}} {
		t.Run(comp, func(t *testing.T) {
			if _, err := exec.LookPath(tool[0]); err != nil {
				t.Fatalf("%s is part of the machine image but is missing: %v", tool[0], err)
			}
			mustRun(t, b.env.with("BACKUP_COMPRESSION", comp), "backup")
			var key string
			for _, k := range listKeys(t, b) {
				if strings.HasSuffix(k, map[string]string{"zstd": ".zst", "gzip": ".gz"}[comp]) {
					key = k
				}
			}
			obj, err := b.bucket.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Body.Close()
			cmd := exec.Command(tool[0], tool[1:]...)
			cmd.Stdin = obj.Body
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %v: %s", tool, err, errOut.String())
			}
			plain, found, err := stream.Decompress(bytes.NewReader(out.Bytes()))
			if err != nil || found != stream.None {
				t.Fatalf("after %s: %v, %v (want a plain archive)", tool[0], found, err)
			}
			vs, err := dump.Verify(context.Background(), plain, nil)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if vs.Documents != 500 {
				t.Errorf("%d documents, want 500", vs.Documents)
			}
			_, _ = io.Copy(io.Discard, plain)
		})
	}
}
