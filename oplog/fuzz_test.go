package oplog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The fuzz tests feed this package's decoders what no server wrote: they must refuse it
// with one of the package's errors, never panic, and never build more than a BSON
// document can hold, whatever the input. Their seed corpus is every fixture of
// testdata/ (testdata/README.md says where each comes from).

// sentinels are the errors every refusal of the decoders wraps.
var sentinels = []error{ErrBadEntry, ErrBadDiff, ErrUnknownOp, ErrUnknownCommand, ErrUnsupported, ErrTransaction, ErrOrder, ErrRefused}

func wantSentinel(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: error %v wraps none of the package's errors", what, err)
}

// fixtureEntries are the oplog entries of testdata: the mongo-tools .bson oplogs and the
// entries of the transaction cases.
func fixtureEntries(tb testing.TB) []bson.Raw {
	tb.Helper()
	files, err := filepath.Glob("testdata/mongo-tools/*.bson")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	var out []bson.Raw
	for _, f := range files {
		if filepath.Base(f) == "timeseries_buckets.bson" {
			continue // bucket documents, the pre-images of FuzzDiff
		}
		out = append(out, readBSONFile(tb, f)...)
	}
	b, err := os.ReadFile("testdata/mongo-tools/txn_oplog_entries.json")
	if err != nil {
		tb.Fatal(err)
	}
	var cases map[string]struct{ Ops []json.RawMessage }
	if err := json.Unmarshal(b, &cases); err != nil {
		tb.Fatal(err)
	}
	for _, c := range cases {
		for _, op := range c.Ops {
			out = append(out, rawJSON(tb, op))
		}
	}
	return out
}

// fuzzSelectors are the selections a capture's Keep is fuzzed with: everything, one
// database's commands, and a namespace filter that drops applyOps operations.
var fuzzSelectors = []*Selector{
	NewSelector(CaptureOptions{}),
	NewSelector(CaptureOptions{Databases: []string{"test"}}),
	NewSelector(CaptureOptions{Namespaces: func(ns string) bool { return len(ns)%2 == 0 }}),
}

// FuzzEntry: any bytes as an oplog entry, through everything that decodes one without a
// server: parseEntry and the routing helpers, the CRUD translation with its $v:2 diff
// applied to the documents at hand, the operations inside applyOps, and a capture's
// selection (which rebuilds applyOps entries).
func FuzzEntry(f *testing.F) {
	for _, raw := range fixtureEntries(f) {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := bson.Raw(data)
		valid := raw.Validate() == nil
		if e, err := parseEntry(raw); err != nil {
			wantSentinel(t, "parseEntry", err)
		} else {
			_, _, _ = e.describe(), e.IsTransaction(), e.DB()
			translate(t, &e, valid, 0)
		}
		for _, sel := range fuzzSelectors {
			out, keep, err := sel.Keep(raw)
			switch {
			case err != nil:
				wantSentinel(t, "Keep", err)
			case keep && len(out) > len(raw):
				t.Fatalf("Keep made a %d-byte entry of a %d-byte one", len(out), len(raw))
			case keep && valid && out.Validate() != nil:
				t.Fatalf("Keep made invalid BSON of a valid entry: %v", out.Validate())
			}
		}
	})
}

// translate turns e into the write a replay would queue, applying its diff as a flush
// would, and recurses into applyOps as the replay does.
func translate(t *testing.T, e *entry, valid bool, depth int) {
	var w *write
	var err error
	switch e.Op {
	case "i":
		w, err = insertWrite(e)
	case "d":
		w, err = deleteWrite(e)
	case "u":
		w, err = updateWrite(e)
	case "c":
		if e.Command() == "applyOps" && depth < maxNesting {
			err = eachInnerOp(e, func(inner *entry) error { translate(t, inner, valid, depth+1); return nil })
		}
	}
	if err != nil {
		wantSentinel(t, "translate "+e.Op, err)
		return
	}
	if w == nil || w.diff == nil {
		return
	}
	for _, pre := range []bson.Raw{emptyDoc, e.O2, w.diff} {
		checkDiff(t, pre, w.diff, valid)
	}
}

// emptyDoc is the BSON document {}.
var emptyDoc = bson.Raw{5, 0, 0, 0, 0}

// checkDiff applies diff to pre and checks the result: refused with ErrBadDiff, or
// no larger than a document can be, and valid BSON when both inputs are.
func checkDiff(t *testing.T, pre, diff bson.Raw, valid bool) {
	t.Helper()
	out, err := applyDiff(pre, diff)
	if err != nil {
		if !errors.Is(err, ErrBadDiff) {
			t.Fatalf("applyDiff: error %v does not wrap ErrBadDiff", err)
		}
		return
	}
	if len(out) > maxDocumentBytes {
		t.Fatalf("applyDiff made a %d-byte document", len(out))
	}
	if valid && pre.Validate() == nil {
		if err := out.Validate(); err != nil {
			t.Fatalf("applyDiff of valid BSON made invalid BSON: %v", err)
		}
	}
	if ops, ok := diffAsOperators(diff); ok && valid {
		for _, op := range ops {
			if err := op.Validate(); err != nil {
				t.Fatalf("diffAsOperators made invalid BSON: %v", err)
			}
		}
	}
}

// FuzzDiff: any pre-image and any diff through the $v:2 applier and the translation of a
// diff into update operators. Seeds: the server's own diff cases, and the time-series
// buckets with the diffs the oplog applied to them.
func FuzzDiff(f *testing.F) {
	v := loadDiffVectors(f)
	for _, c := range v.Cases {
		f.Add([]byte(rawJSON(f, c.Pre)), []byte(rawJSON(f, c.Diff)))
	}
	for _, c := range v.Errors {
		f.Add([]byte(rawJSON(f, c.Pre)), []byte(rawJSON(f, c.Diff)))
	}
	buckets := readBSONFile(f, "testdata/mongo-tools/timeseries_buckets.bson")
	for i, raw := range readBSONFile(f, "testdata/mongo-tools/timeseries_oplog.bson")[:40] {
		diff, _ := raw.Lookup("o", "diff").DocumentOK()
		f.Add([]byte(buckets[i%len(buckets)]), []byte(diff))
	}
	f.Fuzz(func(t *testing.T, pre, diff []byte) {
		checkDiff(t, pre, diff, bson.Raw(diff).Validate() == nil)
	})
}
