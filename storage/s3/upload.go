package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mongostash/mongostash/storage"
)

// ErrUploadLeft is wrapped by the error of a Put whose multipart upload could not be
// aborted: it stays (invisible, but stored) until AbortStaleUploads removes it.
var ErrUploadLeft = errors.New("s3: aborting the multipart upload failed too, so it remains until stale uploads are aborted")

// cleanupTimeout bounds the requests that clean up after a failed upload; they run even
// when the caller's context is cancelled, since cancelling is what they clean up after.
const cleanupTimeout = 2 * time.Minute

// Put stores the stream r, of unknown size, under key, and returns its size and SHA-256.
// A stream shorter than the part size is one PutObject; a longer one a multipart upload.
// A failed or cancelled Put aborts the multipart upload before returning, so no object and
// no upload is left behind; key keeps what it held before. Put reads r from the calling
// goroutine and returns only after r's current Read returns.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.PutResult, error) {
	if err := checkKey(key); err != nil {
		return storage.PutResult{}, fmt.Errorf("upload %s to %s: %w", key, s, err)
	}
	u := &upload{
		s:       s,
		key:     key,
		started: time.Now(),
		br:      bufio.NewReaderSize(r, 64<<10),
		h:       sha256.New(),
		sums:    map[int32][]byte{},
	}
	if err := u.run(ctx); err != nil {
		return storage.PutResult{}, s.redact(fmt.Errorf("upload %s to %s: %w", key, s, err))
	}
	return storage.PutResult{Size: u.size, SHA256: hex.EncodeToString(u.h.Sum(nil))}, nil
}

// upload is one Put in progress.
type upload struct {
	s       *Store
	key     string
	started time.Time
	// br lets the reader look one byte ahead, so that a stream ending exactly at a part
	// boundary is known to end there; reads of whole parts bypass its buffer.
	br   *bufio.Reader
	h    hash.Hash // SHA-256 of everything read
	size int64     // bytes read

	uploadID string

	mu    sync.Mutex
	parts []types.CompletedPart
	sums  map[int32][]byte // each part's raw checksum, for the object's expected ETag or checksum
}

// smallObject is how much of a stream is read before the first part's buffer is made: the
// manifests, gap markers and index objects stored next to every backup and chunk fit, and
// are stored without a part-sized buffer each.
const smallObject = 256 << 10

func (u *upload) run(ctx context.Context) error {
	pool := &bufPool{}
	first := u.s.sched.size(1)
	small := make([]byte, min(first, smallObject))
	n, last, err := u.readPart(ctx, small)
	if err != nil {
		return err
	}
	if last {
		return u.putObject(ctx, small[:n])
	}
	buf := pool.get(first)
	copy(buf, small[:n])
	m, last, err := u.readPart(ctx, buf[n:])
	if err != nil {
		return err
	}
	if last {
		return u.putObject(ctx, buf[:n+m])
	}
	return u.multipart(ctx, pool, buf[:n+m])
}

// readPart fills buf from the stream and reports whether the stream ended with it. It tells
// the stream's end (io.EOF) from the stream's errors, io.ErrUnexpectedEOF included: a
// producer that fails must never be mistaken for one that finished.
func (u *upload) readPart(ctx context.Context, buf []byte) (n int, last bool, err error) {
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

// putObject stores a stream that fit in one part.
func (u *upload) putObject(ctx context.Context, data []byte) error {
	sum := u.s.checksum(data)
	in := &awss3.PutObjectInput{
		Bucket:         &u.s.cfg.Bucket,
		Key:            &u.key,
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(len(data))),
		ContentMD5:     sum.md5,
		ChecksumCRC32C: sum.crc32c,
	}
	if c := u.s.cfg; c.SSE != "" || c.StorageClass != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(c.SSE)
		in.SSEKMSKeyId = optional(c.SSEKMSKeyID)
		in.StorageClass = types.StorageClass(c.StorageClass)
	}
	if in.ObjectLockMode, in.ObjectLockRetainUntilDate = u.s.retention(); in.ObjectLockMode != "" && sum.crc32c != nil {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c // S3 wants the algorithm named on locked uploads
	}
	_, err := u.s.client.PutObject(ctx, in, u.s.bodyOptions()...)
	if err == nil {
		return nil
	}
	// Without an answer the object may have been stored all the same.
	if !gotAnswer(err) && u.landed(ctx, sum.etag, aws.ToString(sum.crc32c)) {
		return nil
	}
	return err
}

// partSum is the checksum of one part as the configured algorithm sends it.
type partSum struct {
	md5    *string // Content-MD5, base64
	crc32c *string // x-amz-checksum-crc32c, base64 of the big-endian CRC
	etag   string  // the ETag a single PutObject of the data gets with Content-MD5
	raw    []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *Store) checksum(data []byte) partSum {
	if s.cfg.Checksum == ChecksumMD5 {
		sum := md5.Sum(data)
		return partSum{
			md5:  aws.String(base64.StdEncoding.EncodeToString(sum[:])),
			etag: hex.EncodeToString(sum[:]),
			raw:  sum[:],
		}
	}
	raw := binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, castagnoli))
	return partSum{crc32c: aws.String(base64.StdEncoding.EncodeToString(raw)), raw: raw}
}

// multipart uploads the stream as a multipart upload whose first part is first.
func (u *upload) multipart(ctx context.Context, pool *bufPool, first []byte) (err error) {
	cctx, retried := withRetryCounter(ctx)
	out, err := u.s.client.CreateMultipartUpload(cctx, u.createInput())
	if retried.n.Load() > 0 || (err != nil && !gotAnswer(err)) {
		// An attempt whose answer was lost (a retry, a cancellation while the request was in
		// flight) may have created an upload we know nothing of.
		defer u.abortStrays(ctx)
	}
	if err != nil {
		return fmt.Errorf("start multipart upload: %w", err)
	}
	if out.UploadId == nil || *out.UploadId == "" {
		return errors.New("start multipart upload: the store returned no upload ID")
	}
	u.uploadID = *out.UploadId
	defer func() {
		if err != nil {
			if aerr := u.abort(ctx); aerr != nil {
				err = fmt.Errorf("%w; %w (upload ID %s): %v", err, ErrUploadLeft, u.uploadID, aerr)
			}
		}
	}()

	if err := u.uploadParts(ctx, pool, first); err != nil {
		return err
	}
	return u.complete(ctx)
}

// createInput is the request that starts the multipart upload: checksum, encryption,
// storage class, and the retention, which a multipart upload fixes when it starts.
func (u *upload) createInput() *awss3.CreateMultipartUploadInput {
	in := &awss3.CreateMultipartUploadInput{Bucket: &u.s.cfg.Bucket, Key: &u.key}
	if u.s.cfg.Checksum == ChecksumCRC32C {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	}
	if c := u.s.cfg; c.SSE != "" || c.StorageClass != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(c.SSE)
		in.SSEKMSKeyId = optional(c.SSEKMSKeyID)
		in.StorageClass = types.StorageClass(c.StorageClass)
	}
	in.ObjectLockMode, in.ObjectLockRetainUntilDate = u.s.retention()
	return in
}

// uploadParts uploads first and the parts read after it, Concurrency at once, until the
// stream ends; the first failure stops the others and is returned.
func (u *upload) uploadParts(ctx context.Context, pool *bufPool, first []byte) error {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	slots := make(chan struct{}, u.s.cfg.Concurrency)
	data, last := first, false
	for pn := 1; ; pn++ {
		// The next part was read while the others uploaded; wait for a free slot, so that
		// at most Concurrency parts upload and one more is being read.
		select {
		case slots <- struct{}{}:
		case <-wctx.Done():
			pool.put(data)
		}
		if wctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(pn int, data []byte) {
			defer wg.Done()
			perr := u.uploadPart(wctx, pn, data)
			pool.put(data)
			<-slots
			if perr != nil {
				cancel(fmt.Errorf("part %d: %w", pn, perr))
			}
		}(pn, data)
		if last {
			break
		}
		if pn == u.s.cfg.MaxParts {
			cancel(fmt.Errorf("the stream is longer than %d bytes, all that %d parts hold with a first part size of %d; raise the part size or the part limit",
				u.s.sched.capacity(), u.s.cfg.MaxParts, u.s.cfg.PartSize))
			break
		}
		buf := pool.get(u.s.sched.size(pn + 1))
		var n int
		var rerr error
		n, last, rerr = u.readPart(wctx, buf)
		if rerr != nil {
			pool.put(buf)
			cancel(rerr)
			break
		}
		data = buf[:n]
	}
	wg.Wait()
	if wctx.Err() != nil {
		return context.Cause(wctx)
	}
	return nil
}

func (u *upload) uploadPart(ctx context.Context, pn int, data []byte) error {
	sum := u.s.checksum(data)
	out, err := u.s.client.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:         &u.s.cfg.Bucket,
		Key:            &u.key,
		UploadId:       &u.uploadID,
		PartNumber:     aws.Int32(int32(pn)),
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(len(data))),
		ContentMD5:     sum.md5,
		ChecksumCRC32C: sum.crc32c,
	}, u.s.bodyOptions()...)
	if err != nil {
		return err
	}
	if out.ETag == nil {
		return errors.New("the store returned no ETag")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(pn)), ChecksumCRC32C: sum.crc32c})
	u.sums[int32(pn)] = sum.raw
	return nil
}

func (u *upload) complete(ctx context.Context) error {
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	cctx, retried := withRetryCounter(ctx)
	_, err := u.s.client.CompleteMultipartUpload(cctx, &awss3.CompleteMultipartUploadInput{
		Bucket:          &u.s.cfg.Bucket,
		Key:             &u.key,
		UploadId:        &u.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
	})
	if err == nil {
		return nil
	}
	// Without an answer, or when a retry finds the upload gone, the first attempt may have
	// completed it.
	if !gotAnswer(err) || (apiCode(err) == "NoSuchUpload" && retried.n.Load() > 0) {
		etag, crc := u.expectedMultipart()
		if u.landed(ctx, etag, crc) {
			return nil
		}
	}
	return fmt.Errorf("complete multipart upload of %d parts: %w", len(u.parts), err)
}

// expectedMultipart returns what S3 records for the completed upload: with MD5s the ETag,
// the MD5 of the parts' MD5s, a dash and the number of parts; with CRC32Cs the composite
// checksum, the CRC32C of the parts' CRC32Cs, a dash and the number of parts.
func (u *upload) expectedMultipart() (etag, crc string) {
	var all []byte
	for _, p := range u.parts {
		all = append(all, u.sums[*p.PartNumber]...)
	}
	if u.s.cfg.Checksum == ChecksumMD5 {
		sum := md5.Sum(all)
		return fmt.Sprintf("%x-%d", sum, len(u.parts)), ""
	}
	raw := binary.BigEndian.AppendUint32(nil, crc32.Checksum(all, castagnoli))
	return "", fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(raw), len(u.parts))
}

// landed reports whether the object under the key is the one this upload sent, after a
// request whose outcome is unknown: same size, written since the upload started, and the
// expected checksum (crc, with Checksum crc32c) or ETag (etag, with md5) — unless the store
// keeps no checksum or KMS encryption makes ETags opaque.
func (u *upload) landed(ctx context.Context, etag, crc string) bool {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	in := &awss3.HeadObjectInput{Bucket: &u.s.cfg.Bucket, Key: &u.key}
	if crc != "" {
		in.ChecksumMode = types.ChecksumModeEnabled
	}
	out, err := u.s.client.HeadObject(hctx, in)
	if err != nil || out.ContentLength == nil || *out.ContentLength != u.size {
		return false
	}
	if out.LastModified != nil && out.LastModified.Before(u.started.Add(-5*time.Minute)) {
		return false // older than this upload, even allowing for clock skew
	}
	if crc != "" {
		return out.ChecksumCRC32C == nil || *out.ChecksumCRC32C == crc
	}
	if strings.HasPrefix(u.s.cfg.SSE, "aws:kms") {
		return true
	}
	return out.ETag != nil && strings.Trim(*out.ETag, `"`) == etag
}

// abortRounds bounds how often abort repeats itself while the upload still shows.
const abortRounds = 5

// abort aborts the multipart upload and checks that it is gone. A part whose request was
// still in flight when the upload was cancelled may land after the abort and bring the
// upload back (S3's documentation says to abort again in that case; versitygw does it
// too), so the abort repeats, with short pauses, until the store no longer knows the
// upload.
func (u *upload) abort(ctx context.Context) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for round := range abortRounds {
		_, err := u.s.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
			Bucket: &u.s.cfg.Bucket, Key: &u.key, UploadId: &u.uploadID,
		})
		if err != nil && apiCode(err) != "NoSuchUpload" {
			return err
		}
		time.Sleep(time.Duration(round+1) * 100 * time.Millisecond)
		_, err = u.s.client.ListParts(actx, &awss3.ListPartsInput{
			Bucket: &u.s.cfg.Bucket, Key: &u.key, UploadId: &u.uploadID, MaxParts: aws.Int32(1),
		})
		if err != nil {
			// NoSuchUpload: gone. Anything else (no permission to list parts, the store
			// gone away): the abort itself was accepted, which is all that can be known.
			return nil
		}
	}
	return fmt.Errorf("the upload still exists after %d aborts", abortRounds)
}

// abortStrays aborts the multipart uploads of this key started since this Put began, other
// than its own: the ones created by attempts whose answer was lost. Failures are only
// logged; prune's AbortStaleUploads catches what is left.
func (u *upload) abortStrays(ctx context.Context) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	since := u.started.Add(-5 * time.Minute)
	err := u.s.eachUpload(actx, u.key, func(up types.MultipartUpload) error {
		if aws.ToString(up.Key) != u.key || aws.ToString(up.UploadId) == u.uploadID ||
			(up.Initiated != nil && up.Initiated.Before(since)) {
			return nil
		}
		_, err := u.s.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
			Bucket: &u.s.cfg.Bucket, Key: up.Key, UploadId: up.UploadId,
		})
		if err != nil && apiCode(err) != "NoSuchUpload" {
			return err
		}
		return nil
	})
	if err != nil {
		u.s.log.Warn("could not abort a duplicate multipart upload; prune removes it later",
			"store", u.s.name, "key", u.key, "error", u.s.redact(err).Error())
	}
}

// bodyOptions are the per-request options of requests with a body.
func (s *Store) bodyOptions() []func(*awss3.Options) {
	if !s.unsigned {
		return nil
	}
	return []func(*awss3.Options){awss3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// bufPool recycles part buffers. It never holds more buffers than were handed out, and the
// upload never has more than Concurrency+1 out at once; buffers too small for the current
// part size are dropped for the garbage collector.
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
