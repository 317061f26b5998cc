package dump

import "testing"

// TestCursorBatch: the dump's cursor replies hold about 2 MiB of documents of the
// collection's average size (docs/safety.md, "Memory and the local disk"), at most 2,000 documents, at least one.
func TestCursorBatch(t *testing.T) {
	for _, tc := range []struct {
		count, size int64
		want        int32
	}{
		{0, 0, cursorBatchDocs},                // collStats failed: the old fixed size
		{1000, 0, cursorBatchDocs},             // no size known
		{100_000, 20_000_000, cursorBatchDocs}, // 200-byte documents
		{100_000, 200_000_000, 1048},           // 2 KB documents: 2 MiB
		{4000, 40_000_000, 209},                // 10 KB blobs
		{10, 160 << 20, 1},                     // 16 MiB documents
		{3, 1 << 40, 1},                        // absurd sizes still give one
		{1 << 40, 1 << 41, cursorBatchDocs},    // 2-byte average (impossible, but no overflow)
	} {
		got := cursorBatch(collectionInfo{estimate: tc.count, size: tc.size})
		if got != tc.want {
			t.Errorf("%d documents of %d bytes: batch %d, want %d", tc.count, tc.size, got, tc.want)
		}
	}
}
