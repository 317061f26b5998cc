package main

import (
	"encoding/json"
	"io"
	"text/tabwriter"
)

// writeJSON prints v as indented JSON, the --json output of list and prune.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns the aligned-columns writer of the text outputs; call Flush at the end.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}
