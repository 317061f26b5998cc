// Package storebench holds the store-level benchmarks that compare the backends side by
// side in one run: upload and download throughput and peak RSS of storage/s3 against
// versitygw, storage/azblob against Azurite and storage/gcs against fake-gcs-server, each
// with its default part, block or chunk size and concurrency (tests only).
//
// It must never be imported.
package storebench
