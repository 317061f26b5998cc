// Package soak holds the soak test of the whole system (`make soak`, docs/development.md):
// a bounded, seeded loop of writes, pitr, backups, prunes and restores run through the
// real binary, with mongostash processes, the S3 server and MongoDB killed with SIGKILL at
// random moments, followed by the checks of docs/pitr.md's "Soak" section. It has no code
// outside its tests; it must never be imported.
package soak
