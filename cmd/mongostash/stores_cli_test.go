package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongostash/mongostash/internal/testenv"
)

// TestStoreURLUsage: a store URL that cannot be used is a usage error (exit 2) that says
// what is wrong, before anything is contacted.
func TestStoreURLUsage(t *testing.T) {
	t.Parallel()
	base := env{"MONGO_URL": "mongodb://127.0.0.1:1", "LOG_FORMAT": "json"}
	for _, tc := range []struct {
		env  env
		want string
	}{
		{base.with("STORE_URL", "ftp://host/x"), "the scheme must be s3, gs, azblob or file"},
		{base.with("STORE_URL", "s3:///prefix"), "names no bucket or container"},
		{base.with("STORE_URL", "s3://one/p", "S3_BUCKET", "other"), "give the bucket once"},
		{base.with("STORE_URL", "s3://one/p", "S3_PREFIX", "q/"), "differ: give the prefix once"},
		{base.with("STORE_URL", "azblob://ctr/p", "S3_BUCKET", "b"), "S3_BUCKET or S3_ENDPOINT is set too"},
		{base.with("STORE_URL", "file://host/dir"), "file:///path"},
		{base.with("STORE_URL", "gs://user:Sekrit-pw@bucket/p"), "holds no credentials"},
		{base.with("STORE_URL", "azblob://Bad_Name/p", "AZURE_STORAGE_ACCOUNT", "acct", "AZURE_STORAGE_KEY", "a2V5"), "breaks Azure's rule"},
		{base.with("STORE_URL", "azblob://ctr/p"), "no storage account"},
		{base.with("STORE_URL", "gs://ab/p", "STORAGE_EMULATOR_HOST", "127.0.0.1:1"), "breaks GCS's rule"},
	} {
		r := runCLI(t, tc.env, "list")
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("STORE_URL=%s: want exit 2 saying %q, got %s", tc.env["STORE_URL"], tc.want, r)
		}
		if strings.Contains(r.stderr, "Sekrit-pw") {
			t.Errorf("the URL's password is printed: %s", r)
		}
	}
}

// TestCloudSecretsNeverPrinted: every command against Azurite with a wrong key (given
// directly, in a connection string read from a _FILE, or a SAS token without write
// permission) fails with the service's reason and never prints the secret.
func TestCloudSecretsNeverPrinted(t *testing.T) {
	c := testenv.NewContainer(t)
	m := testenv.NewMongo(t)
	const wrongKey = "V3JvbmctYnV0LXdlbGwtZm9ybWVkLWtleS1vZi10aGUtcmlnaHQtbGVuZ3RoLWZvci10ZXN0cyE="
	csFile := filepath.Join(t.TempDir(), "cs")
	if err := os.WriteFile(csFile, []byte(strings.Replace(c.ConnectionString(), c.Key, wrongKey, 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := env{"MONGO_URL": m.URL, "MONGO_DATABASE": m.DB, "LOG_FORMAT": "json", "STORE_URL": "azblob://" + c.Name + "/p/"}
	for name, e := range map[string]env{
		"key":                    base.with("AZURE_STORAGE_ACCOUNT", c.Account, "AZURE_STORAGE_KEY", wrongKey, "AZURE_STORAGE_BLOB_ENDPOINT", c.Endpoint),
		"connection string file": base.with("AZURE_STORAGE_CONNECTION_STRING_FILE", csFile),
	} {
		for _, cmd := range []string{"backup", "restore", "list", "verify", "prune"} {
			r := runCLI(t, e, cmd)
			if r.code != 1 || !strings.Contains(r.stderr, "authentication failed") || !strings.Contains(r.stderr, "failed to authenticate") {
				t.Errorf("%s, %s: want exit 1 with the service's reason, got %s", name, cmd, r)
			}
			if strings.Contains(r.stdout+r.stderr, wrongKey) {
				t.Errorf("%s, %s: the key is printed: %s", name, cmd, r)
			}
		}
	}
}

// TestCloudErrorsSayWhatToDo: a missing container or bucket says to create it; a GCS
// endpoint that accepts connections and never answers fails after three attempts with the
// hint on stalled endpoints.
func TestCloudErrorsSayWhatToDo(t *testing.T) {
	c := testenv.NewContainer(t)
	g := testenv.NewGCSBucket(t)
	m := testenv.NewMongo(t)
	silent := silentListener(t)
	base := env{"MONGO_URL": m.URL, "MONGO_DATABASE": m.DB, "LOG_FORMAT": "json"}
	for name, tc := range map[string]struct {
		env  env
		want []string
	}{
		"azure container": {base.with("STORE_URL", "azblob://no-such-container/", "AZURE_STORAGE_CONNECTION_STRING", c.ConnectionString()), []string{"container does not exist", "create it first"}},
		"gcs bucket":      {base.with("STORE_URL", "gs://no-such-bucket/", "STORAGE_EMULATOR_HOST", g.Host), []string{"bucket does not exist", "create it first"}},
		"gcs stalled":     {base.with("STORE_URL", "gs://stalled/", "STORAGE_EMULATOR_HOST", silent, "S3_TIMEOUT", "1s"), []string{"gave up after 3 attempts", "stopped answering", "S3_TIMEOUT"}},
	} {
		r := runCLI(t, tc.env, "list")
		if r.code != 1 {
			t.Errorf("%s: want exit 1, got %s", name, r)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: the error does not say %q: %s", name, w, r)
			}
		}
	}
}

// TestGCSRetentionThroughCLI: with S3_OBJECT_LOCK_MODE and _DAYS, a gs:// backup's objects
// carry a GCS object retention (compliance: locked), list shows it, and prune keeps a
// backup it would otherwise delete, "locked until" the retention ends.
func TestGCSRetentionThroughCLI(t *testing.T) {
	g := testenv.NewGCSBucket(t)
	m := testenv.NewMongo(t)
	e := env{"MONGO_URL": m.URL, "MONGO_DATABASE": m.DB, "LOG_FORMAT": "json", "STORE_URL": "gs://" + g.Name + "/p/",
		"STORAGE_EMULATOR_HOST": g.Host, "S3_OBJECT_LOCK_MODE": "compliance", "S3_OBJECT_LOCK_DAYS": "2"}
	pitrWrites(t, &bed{mongo: m}, "x", 0, 10)
	mustRun(t, e, "backup")
	time.Sleep(1100 * time.Millisecond)
	mustRun(t, e, "backup")
	var list []listEntry
	r := mustRun(t, e, "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	for _, b := range list {
		if b.LockMode != "compliance" || b.LockedUntil == nil || b.LockedUntil.Before(time.Now().Add(47*time.Hour)) {
			t.Errorf("backup %s: lock %q until %v, want compliance for two days", b.Key, b.LockMode, b.LockedUntil)
		}
	}
	r = mustRun(t, e, "prune", "--keep-last", "1", "--max-age", "1s", "--max-staleness", "1h")
	if !strings.Contains(r.stdout, "locked until") {
		t.Errorf("prune does not say the older backup is locked:\n%s", r)
	}
	after := mustRun(t, e, "list", "--json")
	if strings.Count(after.stdout, `"key"`) != 2 {
		t.Errorf("prune deleted a retained backup:\n%s", after.stdout)
	}
}
