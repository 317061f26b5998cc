package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// The Azure Storage emulator's own well-known development account (Azurite's and the
// old Storage Emulator's default, published by Microsoft); it guards nothing but loopback
// test data.
const (
	AzureAccount = "devstoreaccount1"
	AzureKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

var (
	azureURL string
	azureErr error
)

// Container is a fresh, empty blob container on the test Azure Storage emulator.
type Container struct {
	Endpoint string // the account's blob service URL, http://127.0.0.1:port/devstoreaccount1
	Name     string
	Account  string
	Key      string
	Client   *azblob.Client // a plain SDK client, for checking what the code under test left behind
}

// ConnectionString is the container's account as an Azure connection string, with the
// emulator's BlobEndpoint.
func (c *Container) ConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", c.Account, c.Key, c.Endpoint)
}

// AzureEndpoint returns the blob service URL of a running Azure Storage emulator,
// starting Azurite on first use. MONGOSTASH_TEST_AZURE_ENDPOINT names one that already
// runs (with the development account).
func AzureEndpoint(tb testing.TB) string {
	tb.Helper()
	url, err := EnsureAzure()
	if err != nil {
		tb.Fatalf("testenv: Azure Storage test server: %v", err)
	}
	return url
}

// EnsureAzure is AzureEndpoint for programs that are not tests.
func EnsureAzure() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if azureURL == "" && azureErr == nil {
		azureURL, azureErr = startAzurite()
	}
	return azureURL, azureErr
}

// NewContainer creates a fresh container on the test Azure Storage emulator.
func NewContainer(tb testing.TB) *Container {
	tb.Helper()
	c := &Container{Endpoint: AzureEndpoint(tb), Name: UniqueName("mongostash-"), Account: AzureAccount, Key: AzureKey}
	cred, err := azblob.NewSharedKeyCredential(c.Account, c.Key)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	c.Client, err = azblob.NewClientWithSharedKeyCredential(c.Endpoint+"/", cred, nil)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Client.CreateContainer(ctx, c.Name, nil); err != nil {
		tb.Fatalf("testenv: create container %s: %v", c.Name, err)
	}
	return c
}

func startAzurite() (string, error) {
	if url := os.Getenv("MONGOSTASH_TEST_AZURE_ENDPOINT"); url != "" {
		return url, nil
	}
	main, err := AzuriteMain()
	if err != nil {
		return "", err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("Azurite needs Node.js 20 or later on PATH (Debian: apt-get install nodejs): %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr, port, err := freePort()
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "mongostash-azurite-")
		if err != nil {
			return "", err
		}
		s := &server{name: "azurite", dir: dir}
		cmd := exec.Command(node, main, "--blobHost", "127.0.0.1", "--blobPort", port,
			"--location", dir, "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose")
		cmd.Env = append(os.Environ(), "AZURITE_ACCOUNTS=") // the development account only
		if _, err := s.start(cmd, false); err != nil {
			return "", err
		}
		if err := waitTCP(addr, s, 60*time.Second); err != nil {
			lastErr = err
			s.stop()
			continue
		}
		return "http://" + addr + "/" + AzureAccount, nil
	}
	return "", lastErr
}

// AzuriteMain returns the path of Azurite's blob service entry point, installing the
// version pinned in testbed/azurite (package-lock.json) into bin/testbed/azurite with
// `npm ci` when it is missing. `make testbed` installs it ahead of time.
func AzuriteMain() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "testbed", "azurite")
	main := filepath.Join(dir, "node_modules", "azurite", "dist", "src", "blob", "main.js")
	if _, err := os.Stat(main); err == nil {
		return main, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("installing Azurite needs npm on PATH (Debian: apt-get install nodejs npm): %w", err)
	}
	// Install into a temporary directory and rename it into place, so that parallel test
	// binaries never run a half-installed Azurite.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "azurite.tmp")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(root, "testbed", "azurite", f))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("install Azurite (npm ci in %s): %v\n%s", tmp, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(main); serr != nil { // another test binary may have won the race
			return "", err
		}
	}
	return main, nil
}
