package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
)

// ToolOptions run the external mongodump or mongorestore (the --engine mongotools fallback).
type ToolOptions struct {
	Path    string   // binary; empty: found on PATH
	URI     string   // connection string; its password goes to a config file, never argv
	Args    []string // extra arguments (scope, flags)
	Stderr  io.Writer
	TempDir string // where the 0600 config file lives for the run; empty: os.TempDir()
}

// RunMongodump runs `mongodump --archive` and copies its stdout (the plain archive) to w.
func RunMongodump(ctx context.Context, w io.Writer, o ToolOptions) error {
	return runTool(ctx, "mongodump", o, nil, w)
}

// RunMongorestore runs `mongorestore --archive` reading the plain archive from r.
func RunMongorestore(ctx context.Context, r io.Reader, o ToolOptions) error {
	return runTool(ctx, "mongorestore", o, r, nil)
}

func runTool(ctx context.Context, name string, o ToolOptions, stdin io.Reader, stdout io.Writer) error {
	bin := o.Path
	if bin == "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return fmt.Errorf("--engine mongotools needs %s: not found on PATH (install MongoDB Database Tools or pass --%s-path)", name, name)
		}
		bin = p
	}
	uri, password := splitPassword(o.URI)
	args := []string{"--archive", "--uri=" + uri}
	if password != "" {
		cfg, err := writeToolConfig(o.TempDir, password)
		if err != nil {
			return err
		}
		defer os.Remove(cfg)
		args = append(args, "--config="+cfg)
	}
	args = append(args, o.Args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if o.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, o.Stderr)
	}
	if err := cmd.Run(); err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		if password != "" {
			tail = strings.ReplaceAll(tail, password, "***")
		}
		return fmt.Errorf("%s failed: %w: %s", name, err, strings.TrimSpace(tail))
	}
	return nil
}

// splitPassword removes the password from a connection string, so that it never shows
// in the process list; the tools read it from their --config file instead.
func splitPassword(uri string) (string, string) {
	i := strings.Index(uri, "://")
	if i < 0 {
		return uri, ""
	}
	rest := uri[i+3:]
	hostEnd := strings.IndexAny(rest, "/?")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	at := strings.LastIndex(rest[:hostEnd], "@")
	if at < 0 {
		return uri, ""
	}
	user, pw, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return uri, ""
	}
	if dec, err := url.PathUnescape(pw); err == nil {
		pw = dec
	}
	return uri[:i+3] + user + rest[at:], pw
}

// writeToolConfig writes the tools' YAML config holding only the password, readable by
// this user alone.
func writeToolConfig(dir, password string) (string, error) {
	f, err := os.CreateTemp(dir, "mongostash-tools-*.yaml")
	if err != nil {
		return "", fmt.Errorf("mongo-tools config file: %w", err)
	}
	quoted := "'" + strings.ReplaceAll(password, "'", "''") + "'"
	_, werr := fmt.Fprintf(f, "password: %s\n", quoted)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("mongo-tools config file: %w", err)
	}
	return f.Name(), nil
}
