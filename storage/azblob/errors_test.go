package azblob

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestStalledEndpointFails: every operation against an endpoint that never answers fails
// with ErrStalled after three attempts, naming the endpoint and the operation.
func TestStalledEndpointFails(t *testing.T) {
	storagetest.TestStalledEndpoint(t, storagetest.Stalled{
		Open: func(t *testing.T, addr string) storage.Store {
			return newTestStore(t, Config{Endpoint: "http://" + addr + "/acct", Account: "acct", Key: testenv.AzureKey,
				Container: "stalled", Timeout: 200 * time.Millisecond})
		},
		CheckName: "check container",
		Check:     func(ctx context.Context, s storage.Store) error { return s.(*Store).CheckContainer(ctx) },
	})
}

// TestServiceErrors: a wrong key, a missing container and credentials without the
// permission to write each fail with the service's own error code, the sentinel callers
// map to hints, and what to do — and never with the key or the SAS signature.
func TestServiceErrors(t *testing.T) {
	c := testenv.NewContainer(t)
	wrongKey := "d3JvbmcgYnV0IHdlbGwtZm9ybWVkIGtleSBvZiB0aGUgcmlnaHQgbGVuZ3RoIGZvciB0ZXN0cyE="
	readOnly := readOnlySAS(t, c)
	for _, tc := range []struct {
		name   string
		cfg    Config
		op     func(s *Store) error
		want   error
		words  []string
		secret string
	}{
		{"wrong key", Config{Endpoint: c.Endpoint, Account: c.Account, Key: wrongKey, Container: c.Name},
			func(s *Store) error { return s.CheckContainer(ctxFor(t)) }, ErrAuthentication, []string{"403", "check the account name and its key"}, wrongKey},
		{"wrong key, upload", Config{Endpoint: c.Endpoint, Account: c.Account, Key: wrongKey, Container: c.Name},
			func(s *Store) error { _, err := s.Put(ctxFor(t), "k", strings.NewReader("x")); return err }, ErrAuthentication, []string{"failed to authenticate", "upload k"}, wrongKey},
		{"missing container", Config{Endpoint: c.Endpoint, Account: c.Account, Key: c.Key, Container: "no-such-container"},
			func(s *Store) error { _, err := s.List(ctxFor(t), ""); return err }, ErrNoSuchContainer, []string{"ContainerNotFound", "create it first"}, ""},
		{"missing container, check", Config{Endpoint: c.Endpoint, Account: c.Account, Key: c.Key, Container: "no-such-container"},
			func(s *Store) error { return s.CheckContainer(ctxFor(t)) }, ErrNoSuchContainer, []string{"404", "create it first"}, ""},
		{"read-only SAS", Config{Endpoint: c.Endpoint, SASToken: readOnly, Container: c.Name},
			func(s *Store) error { _, err := s.Put(ctxFor(t), "k", strings.NewReader("x")); return err }, ErrAccessDenied, []string{"403", "Storage Blob Data Contributor"}, sigOf(readOnly)},
		{"connection string with a wrong key", Config{ConnectionString: strings.Replace(c.ConnectionString(), c.Key, wrongKey, 1), Container: c.Name},
			func(s *Store) error { _, err := s.List(ctxFor(t), ""); return err }, ErrAuthentication, []string{"403"}, wrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op(newTestStore(t, tc.cfg))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q shows the secret", err)
			}
			if strings.Contains(err.Error(), "Authorization:") || strings.Contains(err.Error(), "RESPONSE") {
				t.Errorf("error %q holds the SDK's request dump", err)
			}
		})
	}
}

func readOnlySAS(t *testing.T, c *testenv.Container) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(c.Account, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sas.BlobSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour), ContainerName: c.Name,
		Permissions: (&sas.ContainerPermissions{Read: true, List: true}).String(),
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}

func sigOf(sasToken string) string {
	for _, p := range strings.Split(sasToken, "&") {
		if v, ok := strings.CutPrefix(p, "sig="); ok {
			return v
		}
	}
	return ""
}

// TestConfigNeverPrintsSecrets: the configuration's String and GoString mask the key, the
// SAS token and the connection string.
func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := Config{Account: "acct", Key: "c2VjcmV0LWtleQ==", SASToken: "sv=1&sig=c2lnbmF0dXJl", ConnectionString: "AccountName=a;AccountKey=c2VjcmV0LWtleQ==", Container: "c"}
	for _, out := range []string{cfg.String(), cfg.GoString()} {
		for _, secret := range []string{cfg.Key, "c2lnbmF0dXJl", "AccountKey"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows %q", out, secret)
			}
		}
	}
}
