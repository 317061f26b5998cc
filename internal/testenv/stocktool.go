package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StockToolsDir is where the stock mongo-tools 100.x (mongodump, mongorestore, bsondump)
// are looked for besides PATH: they are optional, built from MongoDB's source on a
// development machine and absent from a fresh clone.
const StockToolsDir = "/opt/mongo-tools/bin"

// StockTool finds the mongo-tools program name on PATH or in StockToolsDir, and skips the
// test, saying which check (what) is skipped, when it is not installed.
func StockTool(tb testing.TB, name, what string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(StockToolsDir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tb.Skipf("%s is not installed (PATH or %s): %s is skipped", name, StockToolsDir, what)
	return ""
}
