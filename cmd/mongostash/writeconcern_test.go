package main

import (
	"fmt"
	"testing"
)

// TestWriteConcernFromURL: restore's inserts carry the write concern MONGO_URL names, as
// the driver's own insert helpers did before restore built its insert commands itself.
func TestWriteConcernFromURL(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"mongodb://h:27017/", "<nil>"},
		{"mongodb://h:27017/?w=majority", "majority <nil>"},
		{"mongodb://u:p@h1,h2/?replicaSet=rs&w=2&journal=true", "2 true"},
		{"mongodb://h/?journal=false", "<nil> false"},
	} {
		f := MongoFlags{MongoURL: tc.url}
		got := "<nil>"
		if wc := f.writeConcern(); wc != nil {
			j := "<nil>"
			if wc.Journal != nil {
				j = fmt.Sprint(*wc.Journal)
			}
			got = fmt.Sprint(wc.W) + " " + j
			if wc.W == nil {
				got = "<nil> " + j
			}
		}
		if got != tc.want {
			t.Errorf("%s: write concern %s, want %s", tc.url, got, tc.want)
		}
	}
}
