package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/mongostash/mongostash/internal/connstr"
)

// LogFlags choose the log format and level.
type LogFlags struct {
	LogFormat string `name:"log-format" env:"LOG_FORMAT" default:"auto" enum:"auto,text,json" help:"Log format: text on a terminal and JSON otherwise when auto."`
	LogLevel  string `name:"log-level" env:"LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level."`
}

// logger builds the logger writing to w; every string it writes goes through secrets.
func (f LogFlags) logger(w io.Writer, secrets *connstr.Redactor) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr(secrets)}
	format := f.LogFormat
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// redactAttr keeps credentials out of every log line, whatever a caller passes in: strings,
// and errors and other values that print as text.
func redactAttr(secrets *connstr.Redactor) func([]string, slog.Attr) slog.Attr {
	return func(_ []string, a slog.Attr) slog.Attr {
		var s string
		switch v := a.Value.Any(); {
		case a.Value.Kind() == slog.KindString:
			s = a.Value.String()
		case a.Value.Kind() != slog.KindAny:
			return a
		case v == nil:
			return a
		default:
			if e, ok := v.(error); ok {
				s = e.Error()
			} else if st, ok := v.(fmt.Stringer); ok {
				s = st.String()
			} else {
				return a
			}
		}
		if r := secrets.Redact(s); r != s || a.Value.Kind() != slog.KindString {
			return slog.String(a.Key, r)
		}
		return a
	}
}
