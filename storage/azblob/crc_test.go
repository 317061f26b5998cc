package azblob

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// crcHeaders records the x-ms-content-crc64 header of each request.
type crcHeaders struct{ got []string }

func (c *crcHeaders) Do(r *http.Request) (*http.Response, error) {
	c.got = append(c.got, strings.Join(r.Header["x-ms-content-crc64"], ",")) // set uncanonicalised by the SDK
	return http.DefaultClient.Do(r)
}

// TestCRC64: the CRC-64 computed here from the buffer is the one the SDK computes from
// the body (the same request header). Azurite does not check CRC-64s (Azure does), so the
// header is compared, not the service's verdict.
func TestCRC64(t *testing.T) {
	c := testenv.NewContainer(t)
	rec := &crcHeaders{}
	cred, err := blob.NewSharedKeyCredential(c.Account, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := blockblob.NewClientWithSharedKeyCredential(c.Endpoint+"/"+c.Name+"/k", cred, &blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: rec}})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1, 100000, 3 << 20} {
		data := storagetest.Data(uint64(size), size)
		rec.got = nil
		for _, v := range []blob.TransferValidationType{crcOf(data), blob.TransferValidationTypeComputeCRC64()} {
			if _, err := bb.Upload(ctxFor(t), streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{TransactionalValidation: v}); err != nil {
				t.Fatal(err)
			}
		}
		if len(rec.got) != 2 || rec.got[0] == "" || rec.got[0] != rec.got[1] {
			t.Errorf("%d bytes: CRC-64 headers (ours, the SDK's) %q", size, rec.got)
		}
	}
}
