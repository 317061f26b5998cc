package oplog

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/optime"
)

// This package's API speaks optime.Timestamp, which the catalog and pitr share; these
// are the only places where it meets the driver's BSON timestamps.

// EntryTimestamp is an oplog entry's ts; ok is false when it has none.
func EntryTimestamp(raw bson.Raw) (ts optime.Timestamp, ok bool) {
	return timestampOf(raw.Lookup("ts"))
}

// timestampOf reads a BSON timestamp value; ok is false when v is not one.
func timestampOf(v bson.RawValue) (optime.Timestamp, bool) {
	t, i, ok := v.TimestampOK()
	return optime.Timestamp{T: t, I: i}, ok
}

// bsonTimestamp is ts as the driver encodes it in a query.
func bsonTimestamp(ts optime.Timestamp) bson.Timestamp { return bson.Timestamp{T: ts.T, I: ts.I} }
