package azblob

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// maxTagged is the most ReadTagged reads of an object.
const maxTagged = 1 << 20

// writeIDKey is the metadata key of a conditional write's random ID: after a retried
// request the service refuses (the first attempt landed, its answer was lost), the ID
// tells whether the blob now there is this write's.
const writeIDKey = "mongostashwriteid"

// ReadTagged reads key whole (at most 1 MiB) with its ETag, which changes on every write.
func (s *Store) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	if err := checkKey(key); err != nil {
		return storage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, err)
	}
	out, err := s.client.NewBlobClient(key).DownloadStream(stall.WithAttempts(ctx), nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return storage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, storage.ErrNotFound)
		}
		return storage.Tagged{}, s.redact(fmt.Errorf("read %s from %s: %w", key, s, explain(short(err))))
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxTagged+1))
	switch {
	case err != nil:
		return storage.Tagged{}, s.redact(fmt.Errorf("read %s from %s: %w", key, s, explain(short(err))))
	case len(data) > maxTagged:
		return storage.Tagged{}, fmt.Errorf("read %s from %s: larger than %d bytes", key, s, maxTagged)
	case out.ETag == nil:
		return storage.Tagged{}, fmt.Errorf("read %s from %s: the service sent no ETag", key, s)
	}
	return storage.Tagged{Data: data, Tag: string(*out.ETag)}, nil
}

// PutIf writes data under key with one Put Blob, conditional on the blob being absent
// (If-None-Match: *) or still at ifTag (If-Match), which the service checks atomically.
func (s *Store) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("write %s to %s: %w", key, s, err)
	}
	cond := &blob.ModifiedAccessConditions{}
	if ifTag == "" {
		cond.IfNoneMatch = to(azcore.ETagAny)
	} else {
		cond.IfMatch = to(azcore.ETag(ifTag))
	}
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	opts := &blockblob.UploadOptions{
		TransactionalValidation: crcOf(data),
		AccessConditions:        &blob.AccessConditions{ModifiedAccessConditions: cond},
		Metadata:                map[string]*string{writeIDKey: &id},
	}
	opts.ImmutabilityPolicyMode, opts.ImmutabilityPolicyExpiryTime = s.immutability()
	bb := s.client.NewBlockBlobClient(key)
	out, err := bb.Upload(stall.WithAttempts(ctx), streaming.NopCloser(bytes.NewReader(data)), opts)
	switch {
	case err == nil && out.ETag != nil:
		return string(*out.ETag), nil
	case err == nil:
		return "", fmt.Errorf("write %s to %s: the service sent no ETag", key, s)
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) || statusOf(err) == 412:
		if props, perr := bb.GetProperties(stall.WithAttempts(ctx), nil); perr == nil && props.ETag != nil && ownWrite(props.Metadata, id) {
			return string(*props.ETag), nil
		}
		return "", fmt.Errorf("write %s to %s: %w (%v)", key, s, storage.ErrPrecondition, short(err))
	case ifTag != "" && bloberror.HasCode(err, bloberror.BlobNotFound):
		return "", fmt.Errorf("write %s to %s: %w (it was deleted)", key, s, storage.ErrPrecondition)
	}
	return "", s.redact(fmt.Errorf("write %s to %s: %w", key, s, explain(short(err))))
}

// ownWrite reports whether the metadata carries the write ID id (keys come back in any
// case).
func ownWrite(md map[string]*string, id string) bool {
	for k, v := range md {
		if strings.EqualFold(k, writeIDKey) && v != nil && *v == id {
			return true
		}
	}
	return false
}
