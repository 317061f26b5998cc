package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mongostash/mongostash/storage"
)

// S3 conditional writes: PutObject with If-None-Match: * (write only if absent) or If-Match
// with an ETag (write only if unchanged), which AWS S3 has checked atomically since 2024
// and versitygw does from v1.8.0 on (it evaluates the condition again under a lock on the
// key while it publishes the object). A store that ignores the headers would write anyway:
// pitr's lease probes for that at its start (docs/pitr.md), since nothing in the answer
// tells.

// maxTagged is the most ReadTagged reads of an object.
const maxTagged = 1 << 20

var _ storage.ConditionalWriter = (*Store)(nil)

// ReadTagged reads key whole (at most 1 MiB) with its ETag. The ETag of an object written
// with one PutObject is the MD5 of its bytes (without SSE-KMS), so equal bytes give equal
// tags, which the storage.Tagged contract allows.
func (s *Store) ReadTagged(ctx context.Context, key string) (storage.Tagged, error) {
	if err := checkKey(key); err != nil {
		return storage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, err)
	}
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return storage.Tagged{}, fmt.Errorf("read %s from %s: %w", key, s, storage.ErrNotFound)
		}
		return storage.Tagged{}, s.redact(fmt.Errorf("read %s from %s: %w", key, s, err))
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxTagged+1))
	switch {
	case err != nil:
		return storage.Tagged{}, s.redact(fmt.Errorf("read %s from %s: %w", key, s, err))
	case len(data) > maxTagged:
		return storage.Tagged{}, fmt.Errorf("read %s from %s: larger than %d bytes", key, s, maxTagged)
	case aws.ToString(out.ETag) == "":
		return storage.Tagged{}, fmt.Errorf("read %s from %s: the store sent no ETag", key, s)
	}
	return storage.Tagged{Data: data, Tag: aws.ToString(out.ETag)}, nil
}

// PutIf writes data under key with one PutObject conditional on the key being absent
// (ifTag "") or still at ifTag. The store's configured Object Lock retention is not given
// to these objects (a lease rewritten every few seconds is no backup), but for a bucket's
// default retention, which the store applies by itself.
//
// A retried request is the one case where the store's refusal does not mean another writer
// won: the first attempt may have written and only its answer been lost. PutIf then reads
// the key back and takes it as its own write when it holds exactly data — callers make
// every write's data unique (pitr's lease records a renewal count).
func (s *Store) PutIf(ctx context.Context, key string, data []byte, ifTag string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("write %s to %s: %w", key, s, err)
	}
	sum := s.checksum(data)
	in := &awss3.PutObjectInput{
		Bucket:         &s.cfg.Bucket,
		Key:            &key,
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(len(data))),
		ContentMD5:     sum.md5,
		ChecksumCRC32C: sum.crc32c,
	}
	if ifTag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(ifTag)
	}
	if c := s.cfg; c.SSE != "" || c.StorageClass != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(c.SSE)
		in.SSEKMSKeyId = optional(c.SSEKMSKeyID)
		in.StorageClass = types.StorageClass(c.StorageClass)
	}
	rctx, retried := withRetryCounter(ctx)
	out, err := s.client.PutObject(rctx, in, s.bodyOptions()...)
	switch {
	case err == nil && aws.ToString(out.ETag) != "":
		return aws.ToString(out.ETag), nil
	case err == nil:
		return "", fmt.Errorf("write %s to %s: the store sent no ETag", key, s)
	case conditionFailed(err, ifTag != ""):
		if retried.n.Load() > 0 {
			if tag, ok := s.landed(ctx, key, data); ok {
				return tag, nil
			}
		}
		return "", fmt.Errorf("write %s to %s: %w (%s)", key, s, storage.ErrPrecondition, describeRefusal(err))
	}
	return "", s.redact(fmt.Errorf("write %s to %s: %w", key, s, err))
}

// conditionFailed reports the store's answers to a condition that did not hold: 412
// Precondition Failed; 409 ConditionalRequestConflict, AWS's answer to a conditional write
// that raced another one (which won); and, for If-Match, the key's absence (404), since
// the tag of a deleted object matches nothing.
func conditionFailed(err error, ifMatch bool) bool {
	switch status := httpStatus(err); {
	case status == http.StatusPreconditionFailed, apiCode(err) == "PreconditionFailed":
		return true
	case status == http.StatusConflict && apiCode(err) == "ConditionalRequestConflict":
		return true
	case ifMatch && isNotFound(err):
		return true
	}
	return false
}

func describeRefusal(err error) string {
	if code := apiCode(err); code != "" {
		return "the store answered " + code
	}
	return fmt.Sprintf("the store answered %d", httpStatus(err))
}

// landed reports whether key holds exactly data, and its tag: a retried conditional write
// whose first attempt took effect.
func (s *Store) landed(ctx context.Context, key string, data []byte) (string, bool) {
	got, err := s.ReadTagged(ctx, key)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("could not read back a retried conditional write", "store", s.name, "key", key, "error", err.Error())
		}
		return "", false
	}
	return got.Tag, bytes.Equal(got.Data, data)
}
