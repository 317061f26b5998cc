package archive

import (
	"errors"
	"io"
	"strconv"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of these (or
// io.ErrUnexpectedEOF for a truncated stream), so test them with errors.Is.
var (
	ErrBadMagic           = errors.New("archive: bad magic number")
	ErrDocumentSize       = errors.New("archive: invalid document length")
	ErrBadDocument        = errors.New("archive: document does not end with a null byte")
	ErrBadPrelude         = errors.New("archive: malformed prelude")
	ErrBadNamespaceHeader = errors.New("archive: malformed namespace header")
	ErrUnknownNamespace   = errors.New("archive: namespace not listed in the prelude")
	ErrNamespaceReopened  = errors.New("archive: namespace reopened after its EOF")
	ErrCRCMismatch        = errors.New("archive: CRC mismatch")
	ErrUnfinished         = errors.New("archive: unfinished namespace")
	ErrNamespaceMissing   = errors.New("archive: namespace listed in the prelude has no data")
	ErrOrder              = errors.New("archive: namespace out of order")
	ErrNoPrelude          = errors.New("archive: prelude not written")
	ErrClosed             = errors.New("archive: write after close")
	ErrBadMetadata        = errors.New("archive: malformed metadata")
)

// Error describes a problem found at a position of an archive stream.
type Error struct {
	Offset    int64  // byte offset in the stream of the item at fault
	Namespace string // namespace concerned ("db.collection", ".oplog"), "" when none
	Err       error  // one of the sentinels above, io.ErrUnexpectedEOF or a read error
	Detail    string // what exactly was wrong, may be ""

	// early marks problems that mean the stream ended before the archive was
	// complete (unfinished or missing namespaces at a block boundary): those
	// also match io.ErrUnexpectedEOF, like a cut inside a block.
	early bool
}

func (e *Error) Error() string {
	var b strings.Builder
	msg := e.Err.Error()
	if !strings.HasPrefix(msg, "archive: ") {
		b.WriteString("archive: ")
	}
	b.WriteString(msg)
	b.WriteString(" at offset ")
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	if e.Namespace != "" {
		b.WriteString(" (namespace ")
		b.WriteString(strconv.Quote(e.Namespace))
		b.WriteString(")")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel (or underlying read error), plus
// io.ErrUnexpectedEOF when the archive ended before all its namespaces did.
func (e *Error) Unwrap() []error {
	if e.early {
		return []error{e.Err, io.ErrUnexpectedEOF}
	}
	return []error{e.Err}
}
