package main

import (
	"context"
	"errors"
	"io"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/stream"
)

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
