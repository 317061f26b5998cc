// Package catalog is the backup vocabulary: the names of backup objects (ours and the
// seed's), the key extensions of stream's compression and encryption layers, the manifest written next to each complete
// backup and its encoding, and the rules restore and prune stand on — which backups are
// complete, legacy or restorable, and which manifests are orphans — and the same for the
// archived oplog: chunk names and manifests, gap markers, chains, recovery windows, the
// archiver's lease record and the oplog folder's index (oplogindex.go). It is built on the
// storage.Store contract and is the only package that knows what a key means.
//
// It must never import MongoDB or archive code, nor read flags or the environment.
package catalog
