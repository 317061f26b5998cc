//go:build unix

package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/mongostash/mongostash/storage"
)

// maxTagged is the most ReadTagged reads of a file.
const maxTagged = 1 << 20

var _ storage.ConditionalWriter = (*Store)(nil)

// ReadTagged reads key whole (at most 1 MiB) with its tag, the SHA-256 of its content:
// equal bytes give equal tags, as the storage.Tagged contract allows for stores that can
// only hash.
func (s *Store) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	t, err := s.readTagged(ctx, key)
	if err != nil {
		return storage.Tagged{}, fmt.Errorf("read %s in %s: %w", key, s, err)
	}
	return t, nil
}

func (s *Store) readTagged(ctx context.Context, key string) (storage.Tagged, error) {
	r, err := s.Get(ctx, key)
	if err != nil {
		return storage.Tagged{}, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxTagged+1))
	if err != nil {
		return storage.Tagged{}, err
	}
	if len(data) > maxTagged {
		return storage.Tagged{}, fmt.Errorf("larger than %d bytes", maxTagged)
	}
	sum := sha256.Sum256(data)
	return storage.Tagged{Data: data, Tag: hex.EncodeToString(sum[:])}, nil
}

// PutIf writes data under key if the condition holds. Writers exclude each other, in this
// process and in any other on the same host, with an exclusive flock(2) on the store's
// directory for the check and the write (temporary file, fsync, rename, as Put): the
// lock is the kernel's, so it is released when its holder dies, and it is never a file that
// could be left behind. A plain Put does not take the lock. On a network file system the
// guarantee is only as good as its flock (NFSv4 maps it to its own locks; some do not).
func (s *Store) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("write %s in %s: %w", key, s, err)
	}
	unlock, err := s.lockDir(ctx)
	if err != nil {
		return "", fmt.Errorf("write %s in %s: lock the directory: %w", key, s, err)
	}
	defer unlock()
	cur, err := s.readTagged(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if ifTag != "" {
			return "", fmt.Errorf("write %s in %s: %w (it was deleted)", key, s, storage.ErrPrecondition)
		}
	case err != nil:
		return "", fmt.Errorf("write %s in %s: %w", key, s, err)
	case ifTag == "":
		return "", fmt.Errorf("write %s in %s: %w (it exists)", key, s, storage.ErrPrecondition)
	case cur.Tag != ifTag:
		return "", fmt.Errorf("write %s in %s: %w", key, s, storage.ErrPrecondition)
	}
	res, err := s.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	return res.SHA256, nil
}

// lockDir takes an exclusive flock on the store's directory, waiting for it while ctx
// allows.
func (s *Store) lockDir(ctx context.Context) (func(), error) {
	d, err := s.root.Open(".")
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- flock(int(d.Fd())) }()
	select {
	case err := <-done:
		if err != nil {
			d.Close()
			return nil, err
		}
		return func() { d.Close() }, nil // closing the descriptor releases the lock
	case <-ctx.Done():
		go func() {
			<-done // the lock came (or failed) after all: release it
			d.Close()
		}()
		return nil, ctx.Err()
	}
}

func flock(fd int) error {
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
