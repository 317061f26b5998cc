package azblob

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// cleanupTimeout bounds the requests that clean up after a failed upload; they run even
// when the caller's context is cancelled.
const cleanupTimeout = 2 * time.Minute

// Put stores r under key: one Put Blob when the stream fits in the first block, else
// staged blocks committed with Put Block List once the whole stream was staged. A failed
// or cancelled Put commits nothing; see the package documentation for its blocks.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.PutResult, error) {
	if err := checkKey(key); err != nil {
		return storage.PutResult{}, fmt.Errorf("upload %s to %s: %w", key, s, err)
	}
	u := &upload{s: s, key: key, bb: s.client.NewBlockBlobClient(key), br: bufio.NewReaderSize(r, 64<<10), h: sha256.New()}
	if err := ctx.Err(); err != nil {
		return storage.PutResult{}, fmt.Errorf("upload %s to %s: %w", key, s, context.Cause(ctx))
	}
	if err := u.run(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return storage.PutResult{}, s.redact(fmt.Errorf("upload %s to %s: %w", key, s, explain(err)))
	}
	return storage.PutResult{Size: u.size, SHA256: hex.EncodeToString(u.h.Sum(nil))}, nil
}

// upload is one Put in progress.
type upload struct {
	s    *Store
	key  string
	bb   *blockblob.Client
	br   *bufio.Reader
	h    hash.Hash
	size int64

	id     string // this upload's prefix of block IDs, so concurrent Puts never mix blocks
	mu     sync.Mutex
	staged bool // a block was sent: cleanup may be needed
}

func (u *upload) run(ctx context.Context) error {
	pool := &bufPool{}
	buf := pool.get(u.s.sched.size(1))
	n, last, err := u.readBlock(ctx, buf)
	if err != nil {
		return err
	}
	if last {
		return u.putBlob(ctx, buf[:n])
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	u.id = hex.EncodeToString(idb[:])
	err = u.stageAll(ctx, pool, buf[:n])
	if err != nil && u.didStage() {
		u.dropBlocks(ctx)
	}
	return err
}

// readBlock fills buf from the stream and reports whether the stream ended with it. A
// producer's error, io.ErrUnexpectedEOF included, is never taken for the end.
func (u *upload) readBlock(ctx context.Context, buf []byte) (n int, last bool, err error) {
	for n < len(buf) && err == nil {
		if err = ctx.Err(); err != nil {
			break
		}
		var m int
		m, err = u.br.Read(buf[n:])
		n += m
	}
	u.h.Write(buf[:n])
	u.size += int64(n)
	switch {
	case err == io.EOF:
		return n, true, nil
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return n, false, context.Cause(ctx)
	case err != nil:
		return n, false, fmt.Errorf("read the stream at byte %d: %w", u.size, err)
	}
	if _, err := u.br.Peek(1); err == io.EOF {
		return n, true, nil
	} else if err != nil {
		return n, false, fmt.Errorf("read the stream at byte %d: %w", u.size, err)
	}
	return n, false, nil
}

// putBlob stores a stream that fit in one block with one request, which either stores it
// whole or not at all.
func (u *upload) putBlob(ctx context.Context, data []byte) error {
	opts := &blockblob.UploadOptions{TransactionalValidation: crcOf(data)}
	opts.ImmutabilityPolicyMode, opts.ImmutabilityPolicyExpiryTime = u.s.immutability()
	_, err := u.bb.Upload(stall.WithAttempts(ctx), streaming.NopCloser(bytes.NewReader(data)), opts)
	if err != nil {
		return fmt.Errorf("put blob: %w", short(err))
	}
	return nil
}

func (u *upload) blockID(n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", u.id, n))
}

func (u *upload) didStage() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.staged
}

// stageAll stages the stream block by block, at most Concurrency at once while the next
// block is read, and commits the list once every block was staged.
func (u *upload) stageAll(ctx context.Context, pool *bufPool, first []byte) error {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	slots := make(chan struct{}, u.s.cfg.Concurrency)
	data, last := first, false
	blocks := 0
	for n := 1; ; n++ {
		select {
		case slots <- struct{}{}:
		case <-wctx.Done():
		}
		if wctx.Err() != nil {
			pool.put(data)
			break
		}
		blocks = n
		wg.Add(1)
		go func(n int, data []byte) {
			defer wg.Done()
			// A block in flight is finished, not cancelled, when the stream or another block
			// fails: a cancelled request the server already holds may still stage its block
			// after the clean-up. Only the caller's end cancels it (the clean-up checks again).
			err := u.stageBlock(ctx, n, data)
			pool.put(data)
			<-slots
			if err != nil {
				cancel(fmt.Errorf("block %d: %w", n, err))
			}
		}(n, data)
		if last {
			break
		}
		if n == MaxBlocks {
			cancel(fmt.Errorf("the stream is longer than the %d bytes that %d blocks hold with a first block size of %d; raise the block size",
				u.s.sched.capacity(), MaxBlocks, u.s.cfg.BlockSize))
			break
		}
		buf := pool.get(u.s.sched.size(n + 1))
		var m int
		var rerr error
		m, last, rerr = u.readBlock(wctx, buf)
		if rerr != nil {
			pool.put(buf)
			cancel(rerr)
			break
		}
		data = buf[:m]
	}
	wg.Wait()
	if wctx.Err() != nil {
		return context.Cause(wctx)
	}
	return u.commit(ctx, blocks)
}

func (u *upload) stageBlock(ctx context.Context, n int, data []byte) error {
	u.mu.Lock()
	u.staged = true
	u.mu.Unlock()
	_, err := u.bb.StageBlock(stall.WithAttempts(ctx), u.blockID(n), streaming.NopCloser(bytes.NewReader(data)),
		&blockblob.StageBlockOptions{TransactionalValidation: crcOf(data)})
	return short(err)
}

func (u *upload) commit(ctx context.Context, blocks int) error {
	ids := make([]string, blocks)
	for i := range ids {
		ids[i] = u.blockID(i + 1)
	}
	opts := &blockblob.CommitBlockListOptions{}
	opts.ImmutabilityPolicyMode, opts.ImmutabilityPolicyExpiryTime = u.s.immutability()
	if _, err := u.bb.CommitBlockList(stall.WithAttempts(ctx), ids, opts); err != nil {
		return fmt.Errorf("commit %d blocks: %w", blocks, short(err))
	}
	return nil
}

// dropBlocks removes the uncommitted blocks of a failed upload where Azure allows it: a key
// with no committed blob is deleted, blocks and all. The blocks staged on an existing blob
// stay until the next commit of the key or Azure's one-week clean-up: dropping them would
// mean rewriting the blob. Failures are only logged; prune's AbortStaleUploads catches
// what is left.
func (u *upload) dropBlocks(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := u.bb.GetProperties(stall.WithAttempts(cctx), nil)
	if err == nil {
		return // a committed blob: its previous content stays
	}
	if statusOf(err) != 404 {
		u.s.log.Warn("could not check what a failed upload left; prune removes it later", "store", u.s.name, "key", u.key, "error", u.s.redact(short(err)).Error())
		return
	}
	// After the caller's end cancelled blocks in flight, the server may still stage one of
	// them after the delete: look again a moment later.
	passes := 1
	if ctx.Err() != nil {
		passes = 3
	}
	for pass := 0; pass < passes; pass++ {
		if pass > 0 {
			time.Sleep(time.Second)
			if _, err := u.bb.GetBlockList(stall.WithAttempts(cctx), blockblob.BlockListTypeUncommitted, nil); statusOf(err) == 404 {
				return
			}
		}
		if _, err := u.bb.Delete(stall.WithAttempts(cctx), nil); err != nil && statusOf(err) != 404 {
			u.s.log.Warn("could not delete the uncommitted blocks of a failed upload; prune removes them later", "store", u.s.name, "key", u.key, "error", u.s.redact(short(err)).Error())
			return
		}
	}
}

// bufPool recycles block buffers; buffers too small for the current block size are
// dropped for the garbage collector.
type bufPool struct {
	mu   sync.Mutex
	free [][]byte
}

func (p *bufPool) get(size int64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.free) > 0 {
		b := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		if int64(cap(b)) >= size {
			return b[:size]
		}
	}
	return make([]byte, size)
}

func (p *bufPool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, b[:cap(b)])
}
