// Package daemon runs one mongostash operation on a cron schedule and reports what its runs
// did: Prometheus metrics (in a registry of their own, written to a node_exporter textfile,
// pushed to a Pushgateway, served on /metrics) and a /healthz probe.
//
// It knows nothing of what a run does — backup, prune and restore are a Job's function — and
// it never reads flags or the environment: the CLI gives it parsed settings and says which
// run errors are configuration errors that must stop the daemon. Runs never overlap, and on
// shutdown the run in progress sees its context end and is waited for.
package daemon
