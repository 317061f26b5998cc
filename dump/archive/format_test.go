package archive

import (
	"errors"
	"testing"
)

func TestDataNamespace(t *testing.T) {
	tests := []struct {
		entry   Entry
		server  string
		want    string
		wantErr bool
	}{
		{Entry{DB: "db", Collection: "c", Type: "collection"}, "8.0.4", "db.c", false},
		{Entry{DB: "db", Collection: "c"}, "not a version", "db.c", false},
		{Entry{DB: "db", Collection: "v", Type: "view"}, "5.0.0", "db.v", false},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "5.0.0-rc0", "db.system.buckets.ts", false},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "8.2.99", "db.system.buckets.ts", false},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "8.3.0", "db.ts", false},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "8.3.0-alpha1", "db.ts", false},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "8.3.0+build7", "db.ts", false},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "10.0.1", "db.ts", false},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "8.3", "", true},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "", "", true},
		{Entry{DB: "db", Collection: "ts", Type: "timeseries"}, "8.x.0", "", true},
		{Entry{Collection: "oplog"}, "4.0.2", ".oplog", false},
		{Entry{DB: "admin", Collection: "$admin.system.users"}, "4.0.2", "admin.$admin.system.users", false},
	}
	for _, tc := range tests {
		got, err := tc.entry.DataNamespace(tc.server)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%+v with %q: got %q, %v; want %q (error %t)", tc.entry, tc.server, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadPrelude) {
			t.Errorf("error %v does not wrap ErrBadPrelude", err)
		}
	}
}

func TestNamespaceStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Entry{DB: "db", Collection: "a.b"}.Namespace(), "db.a.b"},
		{Entry{Collection: "oplog"}.Namespace(), ".oplog"},
		{Record{DB: "db", Collection: "system.buckets.x"}.Namespace(), "db.system.buckets.x"},
		{Record{Collection: "oplog"}.Namespace(), ".oplog"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestIsLegacyTool(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"r3.4.3", true}, {"r4.1.3-4-gd9eefb54", true}, {"r4.2.2", true}, {"3.2.1", true},
		{"100.0.0", true}, {"100.3.1-9-g6903606e-dirty", true},
		{"100.4.0", false}, {"100.18.0", false}, {"101.0.0", false},
		{"mongostash 1.0", false}, {"", false}, {"r", false}, {"1.2.3", false},
	}
	for _, tc := range tests {
		if got := isLegacyTool(tc.v); got != tc.want {
			t.Errorf("%q: got %t, want %t", tc.v, got, tc.want)
		}
	}
}
