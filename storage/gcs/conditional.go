package gcs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"

	"cloud.google.com/go/storage"

	ourstorage "github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// maxTagged is the most ReadTagged reads of an object.
const maxTagged = 1 << 20

// writeIDKey is the metadata key of a conditional write's random ID: after a retried
// request the service refuses (the first attempt landed, its answer was lost), the ID
// tells whether the object now there is this write's.
const writeIDKey = "mongostash-write-id"

// ReadTagged reads key whole (at most 1 MiB) with its generation, which every write
// changes, as the tag.
func (s *Store) ReadTagged(ctx context.Context, key string) (ourstorage.Tagged, error) {
	if err := checkKey(key); err != nil {
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, err)
	}
	r, err := s.bucket.Object(key).NewReader(stall.WithAttempts(ctx))
	if errors.Is(err, storage.ErrObjectNotExist) {
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, ourstorage.ErrNotFound)
	}
	if err != nil {
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, explain(err))
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxTagged+1))
	switch {
	case err != nil:
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, explain(err))
	case len(data) > maxTagged:
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: larger than %d bytes", key, s, maxTagged)
	}
	return ourstorage.Tagged{Data: data, Tag: strconv.FormatInt(r.Attrs.Generation, 10)}, nil
}

// PutIf writes data under key with one request conditional on the object being absent
// (ifGenerationMatch=0) or still at generation ifTag, which the service checks atomically.
func (s *Store) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("write %s to %s: %w", key, s, err)
	}
	cond := storage.Conditions{DoesNotExist: true}
	if ifTag != "" {
		g, err := strconv.ParseInt(ifTag, 10, 64)
		if err != nil || g <= 0 {
			return "", fmt.Errorf("write %s to %s: %w (tag %q is not a generation)", key, s, ourstorage.ErrPrecondition, ifTag)
		}
		cond = storage.Conditions{GenerationMatch: g}
	}
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	obj := s.bucket.Object(key)
	w := obj.If(cond).NewWriter(stall.WithAttempts(ctx))
	// One request, as the data fit in one chunk; a chunk size of zero would also mean one
	// request, but one the library never retries.
	w.ChunkSize = (len(data)/MinChunkSize + 1) * MinChunkSize
	w.Metadata = map[string]string{writeIDKey: id}
	w.Retention = s.retention()
	_, err := io.Copy(w, bytes.NewReader(data))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	switch {
	case err == nil:
		return strconv.FormatInt(w.Attrs().Generation, 10), nil
	case statusOf(err) == 412:
		// A retry of a write that landed is refused too: then the object is ours.
		if a, aerr := obj.Attrs(stall.WithAttempts(ctx)); aerr == nil && a.Metadata[writeIDKey] == id {
			return strconv.FormatInt(a.Generation, 10), nil
		}
		return "", fmt.Errorf("write %s to %s: %w (%v)", key, s, ourstorage.ErrPrecondition, err)
	}
	return "", fmt.Errorf("write %s to %s: %w", key, s, explain(err))
}
