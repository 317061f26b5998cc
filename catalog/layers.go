package catalog

import "github.com/mongostash/mongostash/stream"

// The layers of a stored object are the codec's (stream.Compression, stream.Encryption);
// what they mean for keys is the catalog's: the extension a key ends with. Manifests
// record the layers by their stream names.

// compressions lists every compression, those with a key extension first, so that a
// key's suffix is matched against the longest extensions before the empty one.
var compressions = []stream.Compression{stream.Zstd, stream.Gzip, stream.None}

// encryptions lists every encryption, those with a key extension first.
var encryptions = []stream.Encryption{stream.Age, stream.Unencrypted}

// compressionExt is what the key of an object with compression c ends with, after
// ".dump" or ".oplog".
func compressionExt(c stream.Compression) string {
	switch c {
	case stream.Zstd:
		return ".zst"
	case stream.Gzip:
		return ".gz"
	}
	return ""
}

// encryptionExt is what the key of an object with encryption e ends with, after the
// compression's extension ("backup-….dump.zst.age").
func encryptionExt(e stream.Encryption) string {
	if e == stream.Age {
		return ".age"
	}
	return ""
}
