package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/mongostash/mongostash/optime"
	"github.com/mongostash/mongostash/storage"
)

// GapMarker records a gap in the archived oplog: `mongostash pitr` found that the oplog no
// longer held the last entry it had archived (it was down, or behind, longer than the oplog
// lasts), so the entries after After and before Resume may have existed and are lost. No
// restore can cross it; times after it need a base backup taken after it.
type GapMarker struct {
	FormatVersion int              `json:"format_version"`
	After         optime.Timestamp `json:"after"`  // the last archived entry before the gap
	Resume        optime.Timestamp `json:"resume"` // the first entry of the chain after the gap
	DetectedAt    time.Time        `json:"detected_at"`
	Reason        string           `json:"reason"`
}

// WriteGapMarker stores g under GapKey and returns the key.
func WriteGapMarker(ctx context.Context, s storage.Store, prefix string, g *GapMarker) (string, error) {
	c := *g
	if c.FormatVersion == 0 {
		c.FormatVersion = 1
	}
	key := GapKey(prefix, c.After, c.Resume)
	if !c.After.Before(c.Resume) {
		return key, fmt.Errorf("write gap marker %s: after %s is not before resume %s", key, c.After, c.Resume)
	}
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return key, fmt.Errorf("write gap marker %s: encode: %w", key, err)
	}
	if _, err := s.Put(ctx, key, bytes.NewReader(append(b, '\n'))); err != nil {
		return key, fmt.Errorf("write gap marker %s: %w", key, err)
	}
	return key, nil
}

// readGapMarker reads the marker under key; its bounds are the key's, whatever the body
// says, so that a marker is never lost to a damaged body.
func readGapMarker(ctx context.Context, s storage.Store, key string, after, resume optime.Timestamp) (GapMarker, error) {
	g := GapMarker{After: after, Resume: resume}
	r, err := s.Get(ctx, key)
	if err != nil {
		return g, fmt.Errorf("read gap marker: %w", err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxChunkManifestSize))
	if err != nil {
		return g, fmt.Errorf("read gap marker %s: %w", key, err)
	}
	var body GapMarker
	if json.Unmarshal(b, &body) == nil {
		g.DetectedAt, g.Reason, g.FormatVersion = body.DetectedAt, body.Reason, body.FormatVersion
	}
	return g, nil
}
