package catalog

import (
	"context"
	"encoding/json"
	"fmt"
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
	return key, writeJSON(ctx, s, "gap marker", key, &c)
}

// readGapMarker reads the marker under key; its bounds are the key's, whatever the body
// says, so that a marker is never lost to a damaged body.
func readGapMarker(ctx context.Context, s storage.Store, key string, after, resume optime.Timestamp) (GapMarker, error) {
	g := GapMarker{After: after, Resume: resume}
	b, err := readSmall(ctx, s, "gap marker", key, maxChunkManifestSize)
	if err != nil {
		return g, err
	}
	var body GapMarker
	if json.Unmarshal(b, &body) == nil {
		g.DetectedAt, g.Reason, g.FormatVersion = body.DetectedAt, body.Reason, body.FormatVersion
	}
	return g, nil
}
