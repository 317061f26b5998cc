package oplog

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Whole reports whether the oplog still holds every entry it was ever given: a capped
// oplog drops its oldest entries only once it is full, and a drop frees at most a part of
// it (MongoDB truncates in stones of a fraction of its size, FerretDB deletes a tenth), so
// an oplog less than half full — by bytes, and by entries where it has a cap on those —
// has never dropped one. Then its oldest entry is its first, and nothing was written
// before it: a chain may start at the oplog's beginning. why says what was measured.
// (An entry deleted by hand is not a drop this can see.)
func (s *Source) Whole(ctx context.Context) (whole bool, why string, err error) {
	var st struct {
		Capped  bool  `bson:"capped"`
		Size    int64 `bson:"size"`
		MaxSize int64 `bson:"maxSize"`
		Count   int64 `bson:"count"`
		Max     int64 `bson:"max"`
	}
	cmd := bson.D{{Key: "collStats", Value: oplogColl}}
	if err := s.coll.Database().RunCommand(ctx, cmd).Decode(&st); err != nil {
		return false, "", fmt.Errorf("oplog: collStats %s.%s: %w", oplogDB, oplogColl, err)
	}
	switch {
	case !st.Capped || st.MaxSize <= 0:
		return false, "the oplog reports no maximum size", nil
	case 2*st.Size >= st.MaxSize:
		return false, fmt.Sprintf("the oplog is %d%% full (%d of %d bytes): it may have dropped entries", 100*st.Size/st.MaxSize, st.Size, st.MaxSize), nil
	case st.Max > 0 && 2*st.Count >= st.Max:
		return false, fmt.Sprintf("the oplog holds %d of at most %d entries: it may have dropped some", st.Count, st.Max), nil
	}
	return true, fmt.Sprintf("the oplog is %d%% full (%d of %d bytes): it never dropped an entry", 100*st.Size/st.MaxSize, st.Size, st.MaxSize), nil
}
