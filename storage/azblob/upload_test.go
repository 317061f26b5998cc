package azblob

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestBlockSizes: the schedule starts at the configured size, never shrinks, never passes
// Azure's largest block, and 50,000 blocks hold 5 TiB; with the default size blocks stay
// at 16 MiB for the first 97 GiB.
func TestBlockSizes(t *testing.T) {
	for _, first := range []int64{MinBlockSize, DefaultBlockSize, 100 << 20, MaxBlockSize} {
		b := newBlockSizes(first)
		if b.size(1) != first {
			t.Errorf("first %d: block 1 is %d", first, b.size(1))
		}
		if c := b.capacity(); c < MaxObjectSize {
			t.Errorf("first %d: %d blocks hold %d bytes, less than %d", first, MaxBlocks, c, int64(MaxObjectSize))
		}
		for n := 2; n <= MaxBlocks; n++ {
			if b.size(n) < b.size(n-1) || b.size(n) > MaxBlockSize {
				t.Fatalf("first %d: block %d is %d after %d", first, n, b.size(n), b.size(n-1))
			}
		}
	}
	b := newBlockSizes(DefaultBlockSize)
	if grown := int64(b.perTier) * DefaultBlockSize; grown < 97<<30 || b.size(b.perTier+1) != 2*DefaultBlockSize {
		t.Errorf("blocks grow after %d bytes to %d, want after at least 97 GiB to 32 MiB", grown, b.size(b.perTier+1))
	}
}

// TestBlockLayout checks which requests a stream becomes, through the block list Azurite
// recorded: a stream that fits in a block is one Put Blob (no blocks), a longer one is
// staged in blocks of the first size and committed in order.
func TestBlockLayout(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		size int
		want []int64 // committed block sizes; nil = one Put Blob
	}{
		{"smaller than a block", mib - 1, nil},
		{"exactly one block", mib, nil},
		{"one byte more", mib + 1, []int64{mib, 1}},
		{"several blocks", 3*mib + 5, []int64{mib, mib, mib, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testenv.NewContainer(t)
			s := newTestStore(t, testConfig(c))
			data := storagetest.Data(1, tc.size)
			storagetest.MustPut(t, s, "k", data)
			if got := storagetest.MustGet(t, s, "k"); !bytes.Equal(got, data) {
				t.Fatal("content differs")
			}
			bl, err := c.Client.ServiceClient().NewContainerClient(c.Name).NewBlockBlobClient("k").GetBlockList(ctxFor(t), blockblob.BlockListTypeAll, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, b := range bl.CommittedBlocks {
				got = append(got, *b.Size)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("committed blocks %v, want %v", got, tc.want)
			}
			if len(bl.UncommittedBlocks) != 0 {
				t.Fatalf("%d uncommitted blocks left", len(bl.UncommittedBlocks))
			}
		})
	}
}

// TestAbortStaleUploads: the uncommitted blocks a killed Put left on a new key (staged
// here through the SDK) show in a listing of uncommitted blobs; AbortStaleUploads deletes
// them once they are older than its limit, and leaves committed blobs alone.
func TestAbortStaleUploads(t *testing.T) {
	c := testenv.NewContainer(t)
	s := newTestStore(t, testConfig(c))
	storagetest.MustPut(t, s, "p/committed", []byte("keep me"))
	bb := c.Client.ServiceClient().NewContainerClient(c.Name).NewBlockBlobClient("p/killed")
	id := base64.StdEncoding.EncodeToString([]byte("killed-000001"))
	if _, err := bb.StageBlock(ctxFor(t), id, streaming.NopCloser(bytes.NewReader([]byte("half a backup"))), nil); err != nil {
		t.Fatal(err)
	}
	if left := uncommittedLeft(t, c); !slices.Equal(left, []string{"uncommitted blocks of p/killed"}) {
		t.Fatalf("uncommitted blobs %q, want p/killed's", left)
	}
	if n, err := s.AbortStaleUploads(ctxFor(t), "p/", time.Hour); err != nil || n != 0 {
		t.Fatalf("AbortStaleUploads(1h) = %d, %v; want nothing removed yet", n, err)
	}
	time.Sleep(1100 * time.Millisecond) // last-modified times have seconds
	n, err := s.AbortStaleUploads(ctxFor(t), "p/", time.Second)
	if err != nil || n != 1 {
		t.Fatalf("AbortStaleUploads = %d, %v; want 1", n, err)
	}
	if left := uncommittedLeft(t, c); len(left) != 0 {
		t.Fatalf("left: %q", left)
	}
	if got := storagetest.Keys(t, s, ""); !slices.Equal(got, []string{"p/committed"}) {
		t.Fatalf("keys %q", got)
	}
}

// TestFailedPutLeavesNoBlocks: a Put of a new key whose producer fails after blocks were
// staged leaves neither a blob nor uncommitted blocks under the key.
func TestFailedPutLeavesNoBlocks(t *testing.T) {
	c := testenv.NewContainer(t)
	s := newTestStore(t, testConfig(c))
	boom := errors.New("producer failed")
	r := storagetest.FailAfter(storagetest.Data(2, 4<<20), 3<<20+10, boom)
	if _, err := s.Put(ctxFor(t), "new", r); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want %v", err, boom)
	}
	_, err := c.Client.ServiceClient().NewContainerClient(c.Name).NewBlockBlobClient("new").GetBlockList(ctxFor(t), blockblob.BlockListTypeAll, nil)
	if statusOf(err) != 404 {
		t.Fatalf("block list of the key after a failed Put: %v, want 404", err)
	}
}

// TestFailedPutWithBlocksInFlightLeavesNoBlocks: the producer fails while staged blocks
// are still on their way, and the server stages each of them whether or not the client
// still waits for the answer (it holds the whole request). The clean-up must come after
// them — before, the blocks in flight were cancelled, the blob deleted, and the server
// then staged them under the deleted key.
func TestFailedPutWithBlocksInFlightLeavesNoBlocks(t *testing.T) {
	c := testenv.NewContainer(t)
	testWrap = func(next http.RoundTripper) http.RoundTripper { return slowStage{next} }
	s := newTestStore(t, testConfig(c))
	testWrap = nil
	boom := errors.New("producer failed")
	r := storagetest.FailAfter(storagetest.Data(2, 4<<20), 3<<20+10, boom)
	if _, err := s.Put(ctxFor(t), "new", r); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want %v", err, boom)
	}
	time.Sleep(slowStageDelay + 200*time.Millisecond) // any stage still held lands now
	_, err := c.Client.ServiceClient().NewContainerClient(c.Name).NewBlockBlobClient("new").GetBlockList(ctxFor(t), blockblob.BlockListTypeAll, nil)
	if statusOf(err) != 404 {
		t.Fatalf("block list of the key after a failed Put: %v, want 404 (%q left)", err, uncommittedLeft(t, c))
	}
}

const slowStageDelay = 400 * time.Millisecond

// slowStage delivers each Put Block to the server slowStageDelay late, even when the caller
// gave up meanwhile, as a server that already holds the request does.
type slowStage struct{ next http.RoundTripper }

func (s slowStage) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPut || r.URL.Query().Get("comp") != "block" {
		return s.next.RoundTrip(r)
	}
	type answer struct {
		resp *http.Response
		err  error
	}
	done := make(chan answer, 1)
	held := r.Clone(context.WithoutCancel(r.Context()))
	go func() {
		time.Sleep(slowStageDelay)
		resp, err := s.next.RoundTrip(held)
		done <- answer{resp, err}
	}()
	select {
	case a := <-done:
		return a.resp, a.err
	case <-r.Context().Done():
		go func() {
			if a := <-done; a.resp != nil {
				a.resp.Body.Close()
			}
		}()
		return nil, r.Context().Err()
	}
}
