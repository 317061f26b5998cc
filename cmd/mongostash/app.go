package main

import (
	"io"
	"log/slog"

	"github.com/mongostash/mongostash/internal/connstr"
)

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
