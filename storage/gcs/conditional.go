package gcs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

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
	r, err := s.open(stall.WithAttempts(ctx), key)
	if err != nil {
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxTagged+1))
	switch {
	case err != nil:
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, err)
	case len(data) > maxTagged:
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: larger than %d bytes", key, s, maxTagged)
	case r.generation == "":
		return ourstorage.Tagged{}, fmt.Errorf("read %s from %s: the service's answer names no generation", key, s)
	}
	return ourstorage.Tagged{Data: data, Tag: r.generation}, nil
}

// PutIf writes data under key with one request conditional on the object being absent
// (ifGenerationMatch=0) or still at generation ifTag, which the service checks atomically.
func (s *Store) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("write %s to %s: %w", key, s, err)
	}
	match := "0"
	if ifTag != "" {
		g, err := strconv.ParseInt(ifTag, 10, 64)
		if err != nil || g <= 0 {
			return "", fmt.Errorf("write %s to %s: %w (tag %q is not a generation)", key, s, ourstorage.ErrPrecondition, ifTag)
		}
		match = strconv.FormatInt(g, 10)
	}
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	ctx = stall.WithAttempts(ctx)
	// One multipart request, whatever the size: a conditional write never spans chunks.
	u := s.newUpload(ctx, key, url.Values{"ifGenerationMatch": {match}}, map[string]string{writeIDKey: id})
	u.buf = data
	u.crc = crcOf(data)
	o, err := u.single()
	switch {
	case err == nil:
		return strconv.FormatInt(int64(o.Generation), 10), nil
	case statusOf(err) == http.StatusPreconditionFailed:
		// A retry of a write that landed is refused too: then the object is ours.
		if a, aerr := s.attrs(ctx, key, ""); aerr == nil && a.Metadata[writeIDKey] == id {
			return strconv.FormatInt(int64(a.Generation), 10), nil
		}
		return "", fmt.Errorf("write %s to %s: %w (%v)", key, s, ourstorage.ErrPrecondition, err)
	}
	return "", fmt.Errorf("write %s to %s: %w", key, s, explain(noSuchBucket(err)))
}

// attrs reads the metadata of key's generation ("" for the live one).
func (s *Store) attrs(ctx context.Context, key, generation string) (object, error) {
	resp, err := s.send(ctx, request{method: http.MethodGet, url: s.objectURL(key, generationQuery(generation))})
	if err != nil {
		return object{}, err
	}
	var o object
	err = decode(resp, &o)
	return o, err
}
