package azblob

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/storagetest"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// testConfig is a configuration for container c with the smallest blocks allowed, so that
// tests need only a few MiB to make several blocks.
func testConfig(c *testenv.Container) Config {
	return Config{
		Endpoint:    c.Endpoint,
		Account:     c.Account,
		Key:         c.Key,
		Container:   c.Name,
		BlockSize:   MinBlockSize,
		Concurrency: 3,
	}
}

func newTestStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// uncommittedLeft lists the blobs of c that hold only uncommitted blocks, through the
// plain SDK client. Blocks staged on a blob that has committed content cannot be listed
// this way (and are not dropped by a failed Put, see the package documentation).
func uncommittedLeft(t testing.TB, c *testenv.Container) []string {
	t.Helper()
	list := func(include container.ListBlobsInclude) map[string]bool {
		names := map[string]bool{}
		p := c.Client.ServiceClient().NewContainerClient(c.Name).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: include})
		for p.More() {
			page, err := p.NextPage(ctxFor(t))
			if err != nil {
				t.Fatalf("list blobs: %v", err)
			}
			for _, b := range page.Segment.BlobItems {
				names[*b.Name] = true
			}
		}
		return names
	}
	committed := list(container.ListBlobsInclude{})
	var left []string
	for name := range list(container.ListBlobsInclude{UncommittedBlobs: true}) {
		if !committed[name] {
			left = append(left, "uncommitted blocks of "+name)
		}
	}
	return left
}

func TestContract(t *testing.T) {
	var containers sync.Map // *Store → *testenv.Container
	storagetest.Run(t, storagetest.Options{
		New: func(t *testing.T) storage.Store {
			c := testenv.NewContainer(t)
			s := newTestStore(t, testConfig(c))
			containers.Store(s, c)
			return s
		},
		Leftovers: func(t *testing.T, s storage.Store) []string {
			c, _ := containers.Load(s)
			return uncommittedLeft(t, c.(*testenv.Container))
		},
		Big: 2*MinBlockSize + MinBlockSize/2, // three blocks
	})
}
