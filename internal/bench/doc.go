// Package bench holds the end-to-end benchmarks of backup and restore (`make bench`,
// `make bench-v2`): the real binary against a real server and S3 store, side by side with
// the stock mongodump and mongorestore when they are on PATH. It has no code outside its
// tests; it must never be imported.
package bench
