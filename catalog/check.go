package catalog

import "fmt"

// FormatCRC is how a manifest writes a namespace's 64-bit archive CRC: 16 lowercase hex
// digits.
func FormatCRC(crc uint64) string { return fmt.Sprintf("%016x", crc) }

// OplogNamespace is how a manifest lists the oplog of a backup made with one, as the
// archive names it: its documents are oplog entries.
const OplogNamespace = ".oplog"

// Documents is the number of documents the manifest records over every collection (the
// oplog's entries are not documents of the backup's data).
func (m *Manifest) Documents() int64 {
	var n int64
	for _, ns := range m.Namespaces {
		if ns.Namespace != OplogNamespace {
			n += ns.Documents
		}
	}
	return n
}

// Observed is what reading a stored backup found: the stored object's size and SHA-256,
// and each namespace's document count and CRC as the archive decoder counted them.
type Observed struct {
	Size       int64
	SHA256     string // lowercase hex
	Namespaces []ObservedNamespace
}

// ObservedNamespace is one namespace of an archive as it was read.
type ObservedNamespace struct {
	Namespace string
	Documents int64
	CRC       uint64
}

// Check compares what was read with what the manifest promised and returns every
// disagreement, in the manifest's order; none means the backup is the one the manifest
// describes. A namespace in the archive but not in the manifest is a disagreement too:
// nothing may have been added to a complete backup.
func (m *Manifest) Check(o Observed) []string {
	var problems []string
	if m.Size != o.Size {
		problems = append(problems, fmt.Sprintf("size %d, manifest says %d", o.Size, m.Size))
	}
	if m.SHA256 != "" && o.SHA256 != m.SHA256 {
		problems = append(problems, fmt.Sprintf("SHA-256 %s, manifest says %s", o.SHA256, m.SHA256))
	}
	got := make(map[string]ObservedNamespace, len(o.Namespaces))
	for _, n := range o.Namespaces {
		got[n.Namespace] = n
	}
	listed := make(map[string]bool, len(m.Namespaces))
	for _, want := range m.Namespaces {
		listed[want.Namespace] = true
		g, ok := got[want.Namespace]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: in the manifest, not in the archive", want.Namespace))
		case g.Documents != want.Documents:
			problems = append(problems, fmt.Sprintf("%s: %d documents, manifest says %d", want.Namespace, g.Documents, want.Documents))
		case want.CRC != "" && FormatCRC(g.CRC) != want.CRC:
			problems = append(problems, fmt.Sprintf("%s: CRC %s, manifest says %s", want.Namespace, FormatCRC(g.CRC), want.CRC))
		}
	}
	for _, n := range o.Namespaces {
		if !listed[n.Namespace] {
			problems = append(problems, fmt.Sprintf("%s: in the archive, not in the manifest", n.Namespace))
		}
	}
	return problems
}
