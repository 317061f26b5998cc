package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/stream"
)

// newLockedBed is newBed with a bucket that has S3 Object Lock (and so versioning).
func newLockedBed(t *testing.T) *bed {
	t.Helper()
	b := newBed(t)
	lb := testenv.NewLockedBucket(t)
	b.bucket = lb
	b.env = b.env.with("S3_BUCKET", lb.Name)
	return b
}

// putLocked stores body under key with a retention, through the plain SDK client.
func putLocked(t *testing.T, b *bed, key string, body []byte, mode types.ObjectLockMode, until time.Time) {
	t.Helper()
	_, err := b.bucket.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(key),
		Body: strings.NewReader(string(body)), ObjectLockMode: mode, ObjectLockRetainUntilDate: &until})
	if err != nil {
		t.Fatal(err)
	}
}

func headLock(t *testing.T, b *bed, key string) (types.ObjectLockMode, time.Time) {
	t.Helper()
	h, err := b.bucket.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return h.ObjectLockMode, aws.ToTime(h.ObjectLockRetainUntilDate)
}

// versionsOf lists every version and delete marker of key, through the plain SDK client.
func versionsOf(t *testing.T, b *bed, key string) (versions, markers int) {
	t.Helper()
	out, err := b.bucket.Client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(b.bucket.Name), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			versions++
		}
	}
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == key {
			markers++
		}
	}
	return versions, markers
}

// TestBackupWithObjectLock: the backup object and its manifest carry the retention asked
// for, and list shows it.
func TestBackupWithObjectLock(t *testing.T) {
	t.Parallel()
	b := newLockedBed(t)
	if _, err := sample.Load(context.Background(), b.mongo.Client, b.mongo.DB, 300); err != nil {
		t.Fatal(err)
	}
	e := b.env.with("S3_OBJECT_LOCK_MODE", "compliance", "S3_OBJECT_LOCK_DAYS", "3", "S3_PART_SIZE", "5242880")
	earliest := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	mustRun(t, e.with("BACKUP_COMPRESSION", "none"), "backup") // big enough for a multipart upload
	latest := time.Now().Add(72 * time.Hour)
	keys := listKeys(t, b)
	if len(keys) != 2 {
		t.Fatalf("objects %v, want a backup and its manifest", keys)
	}
	for _, k := range keys {
		mode, until := headLock(t, b, k)
		if mode != types.ObjectLockModeCompliance || until.Before(earliest) || until.After(latest) {
			t.Errorf("%s: %s until %v, want COMPLIANCE until between %v and %v", k, mode, until, earliest, latest)
		}
	}
	var list []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, b.env, "list", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].LockMode != "compliance" || list[0].LockedUntil == nil || list[0].LockedUntil.Before(earliest) {
		t.Fatalf("list --json: %+v, want the lock", list)
	}
	if table := mustRun(t, b.env, "list").stdout; !strings.Contains(table, "compliance until "+list[0].LockedUntil.Format(time.RFC3339)) {
		t.Errorf("list table lacks the lock:\n%s", table)
	}
}

// TestObjectLockConfiguration: asking for locks the bucket cannot give, or half a lock
// configuration, is a configuration error before anything is stored.
func TestObjectLockConfiguration(t *testing.T) {
	t.Parallel()
	b := newBed(t) // a bucket without Object Lock
	for name, tc := range map[string]struct {
		env  env
		want []string
	}{
		"bucket without lock": {b.env.with("S3_OBJECT_LOCK_MODE", "governance", "S3_OBJECT_LOCK_DAYS", "7"), []string{"no Object Lock", b.bucket.Name, "--object-lock-enabled-for-bucket", "put-object-lock-configuration"}},
		"mode without days":   {b.env.with("S3_OBJECT_LOCK_MODE", "governance"), []string{"S3_OBJECT_LOCK_DAYS"}},
		"days without mode":   {b.env.with("S3_OBJECT_LOCK_DAYS", "7"), []string{"S3_OBJECT_LOCK_MODE"}},
		"unknown mode":        {b.env.with("S3_OBJECT_LOCK_MODE", "forever", "S3_OBJECT_LOCK_DAYS", "7"), []string{"forever", "governance or compliance"}},
		"local directory":     {b.env.with("S3_BUCKET", "", "S3_ENDPOINT", "", "S3_OBJECT_LOCK_MODE", "governance", "S3_OBJECT_LOCK_DAYS", "7"), []string{"need an S3 bucket"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, tc.env, "backup")
			if r.code != 2 {
				t.Fatalf("want exit 2, got %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr should mention %q: %s", w, r.stderr)
				}
			}
			if keys := listKeys(t, b); len(keys) != 0 {
				t.Fatalf("stored %v", keys)
			}
		})
	}
}

// TestPruneKeepsLockedBackups: prune's plan keeps a backup it would delete while its
// object or its manifest is locked ("locked until"), never asks the store to delete it,
// deletes the others (in a versioned bucket: a delete marker), and --purge-versions then
// removes their data for good while a locked noncurrent version stays.
func TestPruneKeepsLockedBackups(t *testing.T) {
	t.Parallel()
	b := newLockedBed(t)
	now := time.Now().UTC()
	body := []byte("prune never reads a backup")
	until := now.Add(2 * time.Hour).Truncate(time.Second)
	fresh := catalog.BackupKey("", now.Add(-time.Hour), stream.Zstd, stream.Age)
	lockedObj := catalog.BackupKey("", now.Add(-40*24*time.Hour), stream.Zstd, stream.Age)
	lockedManifest := catalog.BackupKey("", now.Add(-41*24*time.Hour), stream.Zstd, stream.Age)
	free := catalog.BackupKey("", now.Add(-42*24*time.Hour), stream.Zstd, stream.Age)
	for _, k := range []string{fresh, lockedManifest, free} {
		putObject(t, b, k, body)
	}
	putLocked(t, b, lockedObj, body, types.ObjectLockModeGovernance, until)
	for _, k := range []string{fresh, lockedObj, free} {
		manifestFor(t, b, k, body, now)
	}
	putLocked(t, b, catalog.ManifestKey(lockedManifest), []byte(`{"format_version":1,"compression":"zstd","size":26}`), types.ObjectLockModeCompliance, until)
	// A noncurrent version still locked: the data of a backup deleted by hand.
	handDeleted := catalog.BackupKey("", now.Add(-50*24*time.Hour), stream.Zstd, stream.Unencrypted)
	putLocked(t, b, handDeleted, body, types.ObjectLockModeCompliance, until)
	if _, err := b.bucket.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(handDeleted)}); err != nil {
		t.Fatal(err)
	}

	var plan []planEntry
	if err := json.Unmarshal([]byte(mustRun(t, b.env, "prune", "--dry-run", "--json").stdout), &plan); err != nil {
		t.Fatal(err)
	}
	got := map[string]planEntry{}
	for _, p := range plan {
		got[p.Key] = p
	}
	for _, k := range []string{lockedObj, lockedManifest} {
		p := got[k]
		if p.Action != "keep" || p.LockedUntil == nil || !p.LockedUntil.Equal(until) || !strings.HasPrefix(p.Reasons[0], "locked until "+until.Format(time.RFC3339)) {
			t.Errorf("%s: %+v, want kept, locked until %v", k, p, until)
		}
	}
	if got[free].Action != "delete" || got[fresh].Action != "keep" {
		t.Errorf("plan %+v: want %s deleted and %s kept", plan, free, fresh)
	}
	if table := mustRun(t, b.env, "prune", "--dry-run").stdout; !strings.Contains(table, "locked until "+until.Format(time.RFC3339)) {
		t.Errorf("the plan table lacks the lock:\n%s", table)
	}

	r := mustRun(t, b.env, "prune")
	if strings.Contains(r.stderr, "refused to delete") || !strings.Contains(r.stderr, `"locked_refused":0`) {
		t.Errorf("prune asked the store to delete a locked object:\n%s", r.stderr)
	}
	want := []string{fresh, catalog.ManifestKey(fresh), lockedObj, catalog.ManifestKey(lockedObj), lockedManifest, catalog.ManifestKey(lockedManifest)}
	if keys := listKeys(t, b); len(keys) != len(want) {
		t.Fatalf("after prune: %v, want %v", keys, want)
	}
	if v, m := versionsOf(t, b, free); v != 1 || m != 1 {
		t.Fatalf("%s: %d versions and %d delete markers after prune, want the data behind a delete marker", free, v, m)
	}

	r = mustRun(t, b.env, "prune", "--purge-versions")
	for key, want := range map[string][2]int{free: {0, 0}, catalog.ManifestKey(free): {0, 0}, handDeleted: {1, 1}} {
		if v, m := versionsOf(t, b, key); v != want[0] || m != want[1] {
			t.Errorf("%s after --purge-versions: %d versions, %d markers; want %v", key, v, m, want)
		}
	}
	if !strings.Contains(r.stderr, "noncurrent, locked (COMPLIANCE) until "+until.Format(time.RFC3339)) {
		t.Errorf("the purge should say why the locked version stays:\n%s", r.stderr)
	}
}

// retentionHidingProxy stands in front of the test S3 server for credentials that may not
// read retention (GetObjectRetention answers 403, as S3 does without
// s3:GetObjectRetention), optionally also refusing every DeleteObjects as a whole, and
// answering one version's delete with a non-lock error. These are recorded answers; every
// other request, and every refusal for a lock, comes from the real server.
func retentionHidingProxy(t *testing.T, b *bed, refuseBatches bool, failVersionOf string) string {
	t.Helper()
	target, err := url.Parse(b.bucket.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	answer := func(w http.ResponseWriter, status int, code, msg string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>`+msg+`</Message></Error>`)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("retention"):
			answer(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		case refuseBatches && r.Method == http.MethodPost && q.Has("delete"):
			answer(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		case failVersionOf != "" && r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/"+failVersionOf) && q.Has("versionId"):
			answer(w, http.StatusBadRequest, "InvalidRequest", "recorded stand-in for any failure that is not a lock")
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPruneReportsRefusedDeletesAsLocked: when prune cannot read retention and so asks the
// store to delete locked data, the store's refusals (one by one, or of a whole batch) are
// reported as locked and counted, the other deletes of the run go through, and a failure
// that is not a lock still fails the run, named beside the locked ones.
func TestPruneReportsRefusedDeletesAsLocked(t *testing.T) {
	t.Parallel()
	for name, refuseBatches := range map[string]bool{"per key": false, "whole batch": true} {
		t.Run(name, func(t *testing.T) {
			b := newLockedBed(t)
			now := time.Now().UTC()
			body := []byte("x")
			fresh := catalog.BackupKey("", now.Add(-time.Hour), stream.Zstd, stream.Unencrypted)
			putObject(t, b, fresh, body)
			manifestFor(t, b, fresh, body, now)
			locked := catalog.BackupKey("", now.Add(-50*24*time.Hour), stream.Zstd, stream.Unencrypted)
			other := catalog.BackupKey("", now.Add(-51*24*time.Hour), stream.Zstd, stream.Unencrypted)
			putLocked(t, b, locked, body, types.ObjectLockModeGovernance, now.Add(time.Hour))
			putObject(t, b, other, body)
			for _, k := range []string{locked, other} {
				if _, err := b.bucket.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(k)}); err != nil {
					t.Fatal(err)
				}
			}
			e := b.env.with("S3_ENDPOINT", retentionHidingProxy(t, b, refuseBatches, ""))
			r := mustRun(t, e, "prune", "--purge-versions")
			if !strings.Contains(r.stderr, "refused to delete a locked version") || !strings.Contains(r.stderr, `"locked_refused":1`) {
				t.Errorf("want the locked version reported and counted:\n%s", r.stderr)
			}
			if v, m := versionsOf(t, b, locked); v != 1 || m != 1 {
				t.Errorf("%s: %d versions, %d markers; want the locked data and its marker kept", locked, v, m)
			}
			if v, m := versionsOf(t, b, other); v != 0 || m != 0 {
				t.Errorf("%s: %d versions, %d markers; want it purged beside the refusal", other, v, m)
			}

			// A failure that is not a lock fails the run, and the lock is still reported.
			putObject(t, b, other, body)
			if _, err := b.bucket.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(other)}); err != nil {
				t.Fatal(err)
			}
			e = b.env.with("S3_ENDPOINT", retentionHidingProxy(t, b, true, other))
			r = runCLI(t, e, "prune", "--purge-versions")
			if r.code != 1 || !strings.Contains(r.stderr, "recorded stand-in") || !strings.Contains(r.stderr, "refused to delete a locked version") {
				t.Errorf("want exit 1 naming the failure, and the locked version reported too: %s", r)
			}
		})
	}
}
