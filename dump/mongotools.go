package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/mongostash/mongostash/internal/connstr"
	"github.com/mongostash/mongostash/optime"
)

// ToolOptions run the external mongodump or mongorestore (the mongotools fallback engine).
type ToolOptions struct {
	Path    string // binary; empty: found on PATH
	URI     string // connection string; its password goes to a config file, never argv
	Stderr  io.Writer
	TempDir string // where the 0600 config file lives for the run; empty: os.TempDir()
}

// MongodumpArgs are what mongodump is asked to dump, in mongo-tools' terms.
type MongodumpArgs struct {
	Database  string   // --db; empty: every database
	NsInclude []string // --nsInclude patterns
	NsExclude []string // --nsExclude patterns
	Parallel  int      // --numParallelCollections; 0: the tool's default
}

// MongorestoreArgs are what mongorestore is asked to restore and how, in mongo-tools'
// terms.
type MongorestoreArgs struct {
	NsInclude, NsExclude []string
	NsFrom, NsTo         []string // renames, in pairs
	Drop                 bool
	DryRun               bool
	NoIndexRestore       bool
	Bypass               bool // --bypassDocumentValidation
	StopOnError          bool
	OplogReplay          bool
	OplogLimit           optime.Timestamp // --oplogLimit, a Before bound (exclusive); zero: none
	DBUsersAndRoles      bool             // --restoreDbUsersAndRoles
	PreserveUUID         bool
	Workers              int // --numInsertionWorkersPerCollection; 0: the tool's default
}

// ToolNotFoundError says that mongodump or mongorestore is not installed on PATH.
type ToolNotFoundError struct{ Tool string }

func (e *ToolNotFoundError) Error() string { return "dump: " + e.Tool + " not found on PATH" }

// RunMongodump runs `mongodump --archive` and copies its stdout (the plain archive) to w.
func RunMongodump(ctx context.Context, w io.Writer, o ToolOptions, a MongodumpArgs) error {
	return runTool(ctx, "mongodump", o, a.args(), nil, w)
}

// RunMongorestore runs `mongorestore --archive` reading the plain archive from r.
func RunMongorestore(ctx context.Context, r io.Reader, o ToolOptions, a MongorestoreArgs) error {
	if len(a.NsFrom) != len(a.NsTo) {
		return fmt.Errorf("dump: mongorestore: %d rename sources but %d targets", len(a.NsFrom), len(a.NsTo))
	}
	return runTool(ctx, "mongorestore", o, a.args(), r, nil)
}

func (a MongodumpArgs) args() []string {
	var args []string
	if a.Database != "" {
		args = append(args, "--db="+a.Database)
	}
	args = appendEach(args, "--nsInclude=", a.NsInclude)
	args = appendEach(args, "--nsExclude=", a.NsExclude)
	if a.Parallel > 0 {
		args = append(args, "--numParallelCollections="+strconv.Itoa(a.Parallel))
	}
	return args
}

func (a MongorestoreArgs) args() []string {
	var args []string
	args = appendEach(args, "--nsInclude=", a.NsInclude)
	args = appendEach(args, "--nsExclude=", a.NsExclude)
	for i := range a.NsFrom {
		args = append(args, "--nsFrom="+a.NsFrom[i], "--nsTo="+a.NsTo[i])
	}
	// A fixed order, so that the same options always give the same command line.
	for _, f := range []struct {
		on   bool
		flag string
	}{
		{a.Drop, "--drop"},
		{a.DryRun, "--dryRun"},
		{a.NoIndexRestore, "--noIndexRestore"},
		{a.Bypass, "--bypassDocumentValidation"},
		{a.StopOnError, "--stopOnError"},
		{a.OplogReplay, "--oplogReplay"},
		{a.DBUsersAndRoles, "--restoreDbUsersAndRoles"},
		{a.PreserveUUID, "--preserveUUID"},
	} {
		if f.on {
			args = append(args, f.flag)
		}
	}
	if !a.OplogLimit.IsZero() {
		args = append(args, fmt.Sprintf("--oplogLimit=%d:%d", a.OplogLimit.T, a.OplogLimit.I))
	}
	if a.Workers > 0 {
		args = append(args, "--numInsertionWorkersPerCollection="+strconv.Itoa(a.Workers))
	}
	return args
}

func appendEach(args []string, prefix string, values []string) []string {
	for _, v := range values {
		args = append(args, prefix+v)
	}
	return args
}

// toolArgv is a tool's whole argument list: the archive on stdin or stdout, the
// connection string without its password, the config file that holds the password (when
// there is one), then the operation's own arguments.
func toolArgv(uri, configFile string, args []string) []string {
	argv := []string{"--archive", "--uri=" + uri}
	if configFile != "" {
		argv = append(argv, "--config="+configFile)
	}
	return append(argv, args...)
}

func runTool(ctx context.Context, name string, o ToolOptions, args []string, stdin io.Reader, stdout io.Writer) error {
	bin := o.Path
	if bin == "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return &ToolNotFoundError{Tool: name}
		}
		bin = p
	}
	// The password never goes on the command line, where every user of the machine can
	// read it: the tools read it from their --config file instead.
	uri, password := o.URI, ""
	if u, ok := connstr.Split(o.URI); ok {
		uri, password = u.WithoutPassword(), u.DecodedPassword()
	}
	var cfg string
	if password != "" {
		var err error
		if cfg, err = writeToolConfig(o.TempDir, password); err != nil {
			return err
		}
		defer os.Remove(cfg)
	}
	cmd := exec.CommandContext(ctx, bin, toolArgv(uri, cfg, args)...)
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
		tail = connstr.Redact(tail)
		if password != "" {
			tail = strings.ReplaceAll(tail, password, "***")
		}
		return fmt.Errorf("%s failed: %w: %s", name, err, strings.TrimSpace(tail))
	}
	return nil
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
