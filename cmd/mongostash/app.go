package main

import (
	"context"
	"io"
	"log/slog"
)

// app is what every subcommand's Run receives: the signal-aware context, the logger and
// the output streams.
type app struct {
	ctx    context.Context
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
}
