package main

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/stream"
)

func putObject(t *testing.T, b *bed, key string, body []byte) {
	t.Helper()
	if _, err := b.bucket.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(b.bucket.Name), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func listKeys(t *testing.T, b *bed) []string {
	t.Helper()
	out, err := b.bucket.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket.Name)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	sort.Strings(keys)
	return keys
}

// manifestFor writes a valid manifest for an object of the given body.
func manifestFor(t *testing.T, b *bed, key string, body []byte, at time.Time) {
	t.Helper()
	m := catalog.Manifest{
		FormatVersion: catalog.ManifestFormatVersion, Tool: "mongostash", ToolVersion: "test",
		Databases: []string{"db"}, Compression: "none", StartedAt: at, FinishedAt: at,
		Size: int64(len(body)), SHA256: "0000000000000000000000000000000000000000000000000000000000000000",
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.DecodeManifest(data); err != nil {
		t.Fatalf("test manifest is invalid: %v", err)
	}
	putObject(t, b, catalog.ManifestKey(key), data)
}

// TestPruneDeletesExactlyTheExpiredBackups: with the seed's policy (max age 30 days), old
// seed-named backups (with and without microseconds) and old backups of ours go with their
// manifests, orphan manifests go, the newest backup stays, and nothing that is not a
// backup under the prefix is ever touched.
func TestPruneDeletesExactlyTheExpiredBackups(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	body := []byte("not really an archive; prune never reads it")
	now := time.Now().UTC()
	fresh := catalog.BackupKey("", now.Add(-time.Hour), stream.Zstd, stream.Unencrypted)
	old := catalog.BackupKey("", now.Add(-40*24*time.Hour), stream.Zstd, stream.Unencrypted)
	orphan := catalog.ManifestKey(catalog.BackupKey("", now.Add(-50*24*time.Hour), stream.Gzip, stream.Unencrypted))
	foreign := []string{"readme.txt", "backup-notadate.dump", "other/backup-2020-01-01T00:00:00.dump", "backup-2020-01-01T00:00:00.dump.bak"}
	seeds := []string{"backup-2021-01-06T22:06:31.106555.dump", "backup-2021-01-05T22:06:31.dump"}

	putObject(t, b, fresh, body)
	manifestFor(t, b, fresh, body, now.Add(-time.Hour))
	putObject(t, b, old, body)
	manifestFor(t, b, old, body, now.Add(-40*24*time.Hour))
	putObject(t, b, orphan, []byte("{}"))
	for _, k := range append(append([]string{}, foreign...), seeds...) {
		putObject(t, b, k, body)
	}

	// A dry run deletes nothing and shows the plan.
	r := mustRun(t, b.env, "prune", "--dry-run", "--json")
	var plan []planEntry
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("prune --json: %v\n%s", err, r.stdout)
	}
	actions := map[string]string{}
	for _, p := range plan {
		actions[p.Key] = p.Action
		if len(p.Reasons) == 0 {
			t.Errorf("%s: no reasons", p.Key)
		}
	}
	wantActions := map[string]string{fresh: "keep", old: "delete", seeds[0]: "delete", seeds[1]: "delete"}
	if len(actions) != len(wantActions) {
		t.Errorf("plan covers %v, want %v", actions, wantActions)
	}
	for k, want := range wantActions {
		if actions[k] != want {
			t.Errorf("%s: got %q, want %q", k, actions[k], want)
		}
	}
	checkPlanAgreesWithList(t, b, plan, map[string][2]bool{fresh: {true, false}, old: {true, false}, seeds[0]: {false, true}, seeds[1]: {false, true}})
	before := listKeys(t, b)
	if got := listKeys(t, b); len(got) != len(before) {
		t.Fatalf("dry run deleted something")
	}

	mustRun(t, b.env, "prune")
	want := append([]string{fresh, catalog.ManifestKey(fresh)}, foreign...)
	sort.Strings(want)
	got := listKeys(t, b)
	if len(got) != len(want) {
		t.Fatalf("after prune: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after prune: got %v, want %v", got, want)
		}
	}
}

// TestPruneStalenessGuard: when the newest complete backup is older than the max age,
// backups have stopped; prune deletes nothing and exits 1 so the job alerts.
func TestPruneStalenessGuard(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	seeds := []string{"backup-2021-01-06T22:06:31.106555.dump", "backup-2021-01-05T22:06:31.dump", "backup-2021-01-04T22:06:31.dump"}
	for _, k := range seeds {
		putObject(t, b, k, []byte("x"))
	}
	r := runCLI(t, b.env, "prune")
	if r.code != 1 || !bytes.Contains([]byte(r.stderr), []byte("deleting nothing")) {
		t.Fatalf("want exit 1 and 'deleting nothing', got %s", r)
	}
	if n := strings.Count(r.stderr, "stopped"); n != 1 {
		t.Errorf("the message says 'stopped' %d times, want once: %s", n, r.stderr)
	}
	if got := listKeys(t, b); len(got) != len(seeds) {
		t.Fatalf("stale prune deleted something: %v", got)
	}
}

// checkPlanAgreesWithList: prune --json and list --json say the same of every backup —
// complete (it has a manifest that matches) and legacy (seed-era, no manifest) — and both
// say what want says, as {complete, legacy} by key.
func checkPlanAgreesWithList(t *testing.T, b *bed, plan []planEntry, want map[string][2]bool) {
	t.Helper()
	var list []listEntry
	r := mustRun(t, b.env, "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	listed := map[string][2]bool{}
	for _, e := range list {
		listed[e.Key] = [2]bool{e.Complete, e.Legacy}
	}
	for _, p := range plan {
		got := [2]bool{p.Complete, p.Legacy}
		if l, ok := listed[p.Key]; !ok || l != got {
			t.Errorf("%s: prune says complete=%v legacy=%v, list says %v (listed: %v)", p.Key, got[0], got[1], l, ok)
		}
		if w, ok := want[p.Key]; ok && w != got {
			t.Errorf("%s: prune says complete=%v legacy=%v, want %v", p.Key, got[0], got[1], w)
		}
	}
}
