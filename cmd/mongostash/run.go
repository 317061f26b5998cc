package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/alecthomas/kong"

	"github.com/mongostash/mongostash/internal/connstr"
)

// Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

type cli struct {
	Log LogFlags `embed:"" group:"Logging"`

	Backup  backupCmd  `cmd:"" help:"Dump MongoDB and stream it to the object store (seed: backup.py)."`
	Restore restoreCmd `cmd:"" help:"Restore a backup (the latest complete one by default) into MongoDB (seed: restore.py)."`
	Prune   pruneCmd   `cmd:"" help:"Delete old backups under a retention policy that never deletes the last good one (seed: prune-backups.py)."`
	List    listCmd    `cmd:"" help:"List the backups under the prefix, newest first."`
	Verify  verifyCmd  `cmd:"" help:"Check a backup end to end without MongoDB: decode it, check every CRC and the manifest."`
	Pitr    pitrCmd    `cmd:"" help:"Archive the oplog continuously to the object store, for point-in-time recovery (runs until SIGTERM)."`
	Version versionCmd `cmd:"" help:"Print the version."`

	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
}

// usageError marks configuration mistakes, which exit with 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// kongExit is what kong's exit function panics with (after --help, say), so that run
// returns the code instead of ending the process.
type kongExit int

// run parses args, reading the environment only through env, runs the subcommand until
// ctx ends and returns the exit code. It never exits the process and touches no global
// state, so tests call it in-process as main calls it.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = int(e)
		}
	}()
	var c cli
	a := &app{stdout: stdout, stderr: stderr, env: env, secrets: &connstr.Redactor{}}
	envs := &envSource{lookup: env}
	parser, err := kong.New(&c,
		kong.Name("mongostash"),
		kong.Description("MongoDB backups to S3-compatible storage in one static binary: backup, prune, restore, list, verify, and pitr (the oplog archived continuously, for restore --to-time).\n\nA flag with an environment variable shown next to it can also be set by that variable; flags win over the environment. Secrets can be read from a file named by the variable with _FILE appended (e.g. S3_SECRET_KEY_FILE)."),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": version},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.Help(envs.help),
		kong.Resolvers(envs),
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Bind(a),
	)
	if err != nil {
		fmt.Fprintln(stderr, "mongostash:", err)
		return exitUsage
	}
	if err := describeRanges(parser.Model); err != nil {
		fmt.Fprintln(stderr, "mongostash:", err)
		return exitUsage
	}
	envs.detach(parser.Model)
	kctx, err := parser.Parse(args)
	if err == nil {
		err = envs.positionals(kctx)
	}
	if err == nil {
		err = checkRanges(kctx, envs.envs)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mongostash:", connstr.Redact(err.Error()))
		return exitUsage
	}
	if a.log, err = c.Log.logger(stderr, a.secrets); err != nil {
		fmt.Fprintln(stderr, "mongostash:", err)
		return exitUsage
	}
	err = kctx.Run()
	if err == nil {
		return exitOK
	}
	a.log.Error(a.redact(withHint(err).Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// app is what every subcommand's Run receives besides the context (which kong binds on its
// own): the logger, the output streams, the environment and the secrets to keep out of
// every line of output. Nothing in a subcommand reads os.Stdout, os.Stderr or the process's
// environment (standard input, for --from -, is the process's).
type app struct {
	log     *slog.Logger
	stdout  io.Writer
	stderr  io.Writer
	env     func(string) (string, bool)
	secrets *connstr.Redactor
}

// redact hides URI passwords and every secret registered so far in s.
func (a *app) redact(s string) string { return a.secrets.Redact(s) }
