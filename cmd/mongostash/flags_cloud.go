package main

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/mongostash/mongostash/storage"
	azstore "github.com/mongostash/mongostash/storage/azblob"
	gcsstore "github.com/mongostash/mongostash/storage/gcs"
)

// CloudFlags are the settings of the Azure Blob Storage and Google Cloud Storage backends,
// in each ecosystem's own variable names. They matter only with a --store URL of their
// scheme.
type CloudFlags struct {
	AzureAccount          string `name:"azure-storage-account" env:"AZURE_STORAGE_ACCOUNT" help:"Azure storage account of azblob:// stores (not needed with a connection string)."`
	AzureKey              string `name:"azure-storage-key" env:"AZURE_STORAGE_KEY" help:"Azure storage account key. Also AZURE_STORAGE_KEY_FILE. Without a key, SAS token or connection string: workload identity, managed identity or az login."`
	AzureConnectionString string `name:"azure-storage-connection-string" env:"AZURE_STORAGE_CONNECTION_STRING" help:"Azure storage connection string (its BlobEndpoint points at Azurite or a private endpoint). Also AZURE_STORAGE_CONNECTION_STRING_FILE."`
	AzureSASToken         string `name:"azure-storage-sas-token" env:"AZURE_STORAGE_SAS_TOKEN" help:"Azure shared access signature for the container. Also AZURE_STORAGE_SAS_TOKEN_FILE."`
	AzureBlobEndpoint     string `name:"azure-storage-blob-endpoint" env:"AZURE_STORAGE_BLOB_ENDPOINT" help:"Azure blob service URL (default https://<account>.blob.core.windows.net)."`
	GCSCredentials        string `name:"gcs-credentials-file" env:"GOOGLE_APPLICATION_CREDENTIALS" type:"path" help:"Google credentials JSON file (service account key or workload identity federation) of gs:// stores; empty uses Application Default Credentials (GKE workload identity, gcloud)."`
	GCSEmulatorHost       string `name:"gcs-emulator-host" env:"STORAGE_EMULATOR_HOST" help:"host:port of a GCS emulator (fake-gcs-server); requests go there unauthenticated."`
}

// storeURL is a --store URL taken apart.
type storeURL struct {
	scheme string // s3, gs, azblob or file
	bucket string // bucket or container; the directory for file
	prefix string
}

// parseStoreURL reads s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix or
// file:///dir.
func parseStoreURL(raw string) (storeURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return storeURL{}, usagef("STORE_URL %q is not a URL: %v", raw, err)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return storeURL{}, usagef("STORE_URL %q: a store URL holds no credentials, query or fragment (they have their own settings)", u.Redacted())
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return storeURL{}, usagef("STORE_URL %q: a file URL names a local directory, file:///path", raw)
		}
		if u.Path == "" {
			return storeURL{}, usagef("STORE_URL %q names no directory", raw)
		}
		return storeURL{scheme: "file", bucket: u.Path}, nil
	case "s3", "gs", "azblob":
		if u.Host == "" {
			return storeURL{}, usagef("STORE_URL %q names no bucket or container: %s://NAME/prefix", raw, u.Scheme)
		}
		return storeURL{scheme: u.Scheme, bucket: u.Host, prefix: strings.TrimPrefix(u.Path, "/")}, nil
	}
	return storeURL{}, usagef("STORE_URL %q: the scheme must be s3, gs, azblob or file", raw)
}

// applyURL moves what --store says into the flags of its backend; the S3 and directory
// settings then work as if they had been given, and conflicting ones are refused.
func (f *StoreFlags) applyURL() error {
	if f.StoreURL == "" {
		return nil
	}
	u, err := parseStoreURL(f.StoreURL)
	if err != nil {
		return err
	}
	if f.Prefix != "" && u.prefix != "" && strings.TrimSuffix(f.Prefix, "/") != strings.TrimSuffix(u.prefix, "/") {
		return usagef("STORE_URL's prefix %q and S3_PREFIX %q differ: give the prefix once", u.prefix, f.Prefix)
	}
	if u.prefix != "" {
		f.Prefix = u.prefix
	}
	switch u.scheme {
	case "file":
		if f.Bucket != "" {
			return usagef("STORE_URL names a directory but S3_BUCKET is set too: unset one")
		}
		f.TargetDir = u.bucket
	case "s3":
		if f.Bucket != "" && f.Bucket != u.bucket {
			return usagef("STORE_URL's bucket %q and S3_BUCKET %q differ: give the bucket once", u.bucket, f.Bucket)
		}
		f.Bucket = u.bucket
	default:
		if f.Bucket != "" || f.Endpoint != "" {
			return usagef("STORE_URL names a %s:// store but S3_BUCKET or S3_ENDPOINT is set too: unset them", u.scheme)
		}
	}
	f.url = u
	return nil
}

// lockPeriod is the S3 Object Lock flags as the other stores' retention: the mode the
// store names and the period (governance is Azure's and GCS's unlocked, compliance locked).
func lockPeriod(up *UploadFlags) (unlocked bool, period time.Duration, err error) {
	mode, period, err := up.objectLock()
	if err != nil || mode == "" {
		return false, 0, err
	}
	return mode == "GOVERNANCE", period, nil
}

// openAzure opens an azblob:// store and checks the container.
func (f *StoreFlags) openAzure(ctx context.Context, a *app, up *UploadFlags) (storage.Store, error) {
	c := &f.Cloud
	for _, s := range []struct {
		v   *string
		env string
	}{{&c.AzureKey, "AZURE_STORAGE_KEY"}, {&c.AzureConnectionString, "AZURE_STORAGE_CONNECTION_STRING"}, {&c.AzureSASToken, "AZURE_STORAGE_SAS_TOKEN"}} {
		if err := resolveFile(a, s.v, s.env); err != nil {
			return nil, err
		}
		a.secrets.Register(*s.v)
	}
	for _, part := range strings.Split(c.AzureConnectionString, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && (strings.EqualFold(k, "AccountKey") || strings.EqualFold(k, "SharedAccessSignature")) {
			a.secrets.Register(v)
		}
	}
	if q, err := url.ParseQuery(strings.TrimPrefix(c.AzureSASToken, "?")); err == nil {
		a.secrets.Register(q.Get("sig"))
	}
	unlocked, period, err := lockPeriod(up)
	if err != nil {
		return nil, err
	}
	cfg := azstore.Config{Account: c.AzureAccount, Container: f.url.bucket, Key: c.AzureKey, ConnectionString: c.AzureConnectionString,
		SASToken: c.AzureSASToken, Endpoint: c.AzureBlobEndpoint, Timeout: f.Timeout, MaxRetries: f.retries(), Logger: a.log,
		// The S3 part settings size Azure's blocks too, so that both hold the same memory.
		BlockSize: int64(up.PartSize), Concurrency: up.Concurrency}
	if period > 0 {
		cfg.ImmutabilityMode, cfg.ImmutabilityPeriod = azstore.ImmutabilityLocked, period
		if unlocked {
			cfg.ImmutabilityMode = azstore.ImmutabilityUnlocked
		}
	}
	st, err := azstore.New(cfg)
	if err != nil {
		return nil, usagef("Azure configuration (STORE_URL, AZURE_STORAGE_*): %v", err)
	}
	if err := st.CheckContainer(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// openGCS opens a gs:// store and checks the bucket.
func (f *StoreFlags) openGCS(ctx context.Context, a *app, up *UploadFlags) (storage.Store, error) {
	unlocked, period, err := lockPeriod(up)
	if err != nil {
		return nil, err
	}
	cfg := gcsstore.Config{Bucket: f.url.bucket, CredentialsFile: f.Cloud.GCSCredentials, EmulatorHost: f.Cloud.GCSEmulatorHost,
		Timeout: f.Timeout, MaxRetries: f.retries(), Logger: a.log,
		// One chunk of the first S3 part's size (rounded to GCS's 256 KiB granularity).
		ChunkSize: int(max(int64(up.PartSize)/gcsstore.MinChunkSize, 1) * gcsstore.MinChunkSize)}
	if period > 0 {
		cfg.RetentionMode, cfg.RetentionPeriod = gcsstore.RetentionLocked, period
		if unlocked {
			cfg.RetentionMode = gcsstore.RetentionUnlocked
		}
	}
	st, err := gcsstore.New(ctx, cfg)
	if err != nil {
		return nil, usagef("GCS configuration (STORE_URL, GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST): %v", err)
	}
	if err := st.CheckBucket(ctx); err != nil {
		return nil, err
	}
	return st, nil
}
