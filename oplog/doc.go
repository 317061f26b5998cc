// Package oplog reads a server's oplog (Capture during a backup, Source for point-in-time
// recovery) and replays entries as plain CRUD and commands (Replayer).
package oplog
