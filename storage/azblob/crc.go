package azblob

import (
	"hash/crc64"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
)

// azureCRC64 is the CRC-64 Azure Storage checks transfers with (polynomial
// 0x9A6C9329AC4BC9B5, as the service documents it).
var azureCRC64 = crc64.MakeTable(0x9A6C9329AC4BC9B5)

// crcOf is the transactional CRC-64 of data, computed here from the buffer the request
// sends: the SDK's own (TransferValidationTypeComputeCRC64) copies the whole body first,
// which would double an upload's memory.
func crcOf(data []byte) blob.TransferValidationType {
	return blob.TransferValidationTypeCRC64(crc64.Checksum(data, azureCRC64))
}
