package archive

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// goldenMetadata returns the metadata strings of a golden archive by namespace.
func goldenMetadata(t *testing.T, file string) map[string]string {
	t.Helper()
	d, err := decodeArchive(readTestdata(t, file))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range d.prelude.Entries {
		m[e.Namespace()] = e.Metadata
	}
	return m
}

// Metadata written by mongodump 100.x is canonical: it must parse and format
// back to the same bytes.
func TestMetadataGoldenCanonicalRoundTrip(t *testing.T) {
	for _, file := range []string{
		"spec-1.7-golden-vector.archive",
		"mongodump-100.18.0-ferretdb-shop.archive",
		"mongodump-100.3.1-timeseries.archive",
	} {
		for ns, text := range goldenMetadata(t, file) {
			t.Run(file+"/"+ns, func(t *testing.T) {
				m, err := ParseMetadata(text)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				got, err := FormatMetadata(m)
				if err != nil {
					t.Fatalf("format: %v", err)
				}
				if got != text {
					t.Errorf("got\n%s\nwant\n%s", got, text)
				}
			})
		}
	}
}

// Metadata of older tools is not canonical; it must parse to the right BSON,
// which formats as mongodump 100.x would write it.
func TestMetadataGoldenLegacy(t *testing.T) {
	tests := []struct {
		file, ns string
		want     string // FormatMetadata of the parsed metadata
	}{
		{
			"mongodump-r3.4.3-test-bar.archive", "test.bar",
			`{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_","ns":"test.bar"}],"collectionName":""}`,
		},
		{
			"mongodump-r3.4.3-test-bar.archive", "admin.system.version",
			`{"indexes":[{"v":{"$numberInt":"1"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_","ns":"admin.system.version"},` +
				`{"v":{"$numberDecimal":"2"},"key":{"version":{"$numberInt":"1"}},"name":"incompatible_with_version_32","ns":"admin.system.version"}],"collectionName":""}`,
		},
		{
			"mongodump-r4.1.3-oplog.archive", "test.foo",
			`{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_","ns":"test.foo"}],"uuid":"d6b7b0bd5dce41c498aa03f115533254","collectionName":""}`,
		},
		{
			"mongodump-r4.1.3-oplog.archive", ".oplog", `{"indexes":[],"collectionName":""}`,
		},
		{
			// The key is the text {"a":"b"}, written unescaped by the buggy
			// r4.2.2 (TOOLS-2453); it must come back intact.
			"mongodump-r4.2.2-quoted-index-key.archive", "test.ixtest",
			`{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_","ns":"test.ixtest"},` +
				`{"v":{"$numberInt":"2"},"key":{"{\"a\":\"b\"}":{"$numberDouble":"1.0"}},"name":"quoted_idx","ns":"test.ixtest"}],` +
				`"uuid":"a104ede478cc4819a7bb68203c32d143","collectionName":""}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.ns, func(t *testing.T) {
			text, ok := goldenMetadata(t, tc.file)[tc.ns]
			if !ok {
				t.Fatalf("no entry %s", tc.ns)
			}
			m, err := ParseMetadata(text)
			if err != nil {
				t.Fatalf("parse %s: %v", text, err)
			}
			got, err := FormatMetadata(m)
			if err != nil {
				t.Fatalf("format: %v", err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestMetadataQuotedKeyValue(t *testing.T) {
	text := goldenMetadata(t, "mongodump-r4.2.2-quoted-index-key.archive")["test.ixtest"]
	m, err := ParseMetadata(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Indexes) != 2 {
		t.Fatalf("got %d indexes, want 2", len(m.Indexes))
	}
	key := m.Indexes[1].Lookup("key").Document()
	elems, _ := key.Elements()
	if len(elems) != 1 || elems[0].Key() != `{"a":"b"}` || elems[0].Value().Double() != 1.0 {
		t.Errorf("key: got %s", key)
	}
}

func mustRaw(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name, text string
		want       string // FormatMetadata of the result, or "" when wantErr
		wantErr    bool
	}{
		{"empty text means no metadata", ``, `{"indexes":[],"collectionName":""}`, false},
		{"bare numbers", `{"indexes":[{"v":2,"key":{"a":1.5,"b":-1,"c":3000000000,"d":1e2}}]}`,
			`{"indexes":[{"v":{"$numberInt":"2"},"key":{"a":{"$numberDouble":"1.5"},"b":{"$numberInt":"-1"},"c":{"$numberLong":"3000000000"},"d":{"$numberDouble":"100.0"}}}],"collectionName":""}`, false},
		{"empty options object", `{"options":{},"indexes":[],"collectionName":"c"}`, `{"indexes":[],"collectionName":"c"}`, false},
		{"legacy binary", `{"options":{"x":{"$binary":"AAEC","$type":"04"}},"indexes":[]}`,
			`{"options":{"x":{"$binary":{"base64":"AAEC","subType":"04"}}},"indexes":[],"collectionName":""}`, false},
		{"canonical date", `{"options":{"d":{"$date":{"$numberLong":"0"}}},"indexes":[]}`,
			`{"options":{"d":{"$date":{"$numberLong":"0"}}},"indexes":[],"collectionName":""}`, false},
		{"relaxed date string rejected", `{"options":{"d":{"$date":"1970-01-01T00:00:00Z"}},"indexes":[]}`, "", true},
		{"relaxed date number rejected", `{"options":{"d":{"$date":0}},"indexes":[]}`, "", true},
		{"unknown keys ignored", `{"indexes":[],"collectionName":"c","extra":{"a":1},"type":"view"}`,
			`{"indexes":[],"collectionName":"c","type":"view"}`, false},
		{"uuid lowercased", `{"indexes":[],"uuid":"FFA7054F30DC422696FA9607E150CB53","collectionName":"c"}`,
			`{"indexes":[],"uuid":"ffa7054f30dc422696fa9607e150cb53","collectionName":"c"}`, false},
		{"nulls are absent", `{"options":null,"indexes":null,"uuid":null,"collectionName":null,"type":null}`,
			`{"indexes":[],"collectionName":""}`, false},
		{"whitespace", " {\n \"indexes\" : [ ] ,\t\"collectionName\" : \"c\" }\n", `{"indexes":[],"collectionName":"c"}`, false},
		{"key order kept", `{"indexes":[{"v":{"$numberInt":"2"},"key":{"b":{"$numberInt":"-1"},"a":{"$numberInt":"1"}},"name":"b_-1_a_1"}]}`,
			`{"indexes":[{"v":{"$numberInt":"2"},"key":{"b":{"$numberInt":"-1"},"a":{"$numberInt":"1"}},"name":"b_-1_a_1"}],"collectionName":""}`, false},
		{"two unescaped keys", `{"indexes":[{"key":{"x"y":1,"p":{"q"r":2}}}]}`,
			`{"indexes":[{"key":{"x\"y":{"$numberInt":"1"},"p":{"q\"r":{"$numberInt":"2"}}}}],"collectionName":""}`, false},
		{"uuid too short", `{"indexes":[],"uuid":"abc"}`, "", true},
		{"uuid not a string", `{"indexes":[],"uuid":{"$binary":{"base64":"AAEC","subType":"04"}}}`, "", true},
		{"options not an object", `{"options":[1],"indexes":[]}`, "", true},
		{"index not an object", `{"indexes":[1]}`, "", true},
		{"indexes not an array", `{"indexes":{}}`, "", true},
		{"collectionName not a string", `{"collectionName":1}`, "", true},
		{"not JSON", `{"indexes":[`, "", true},
		{"not an object", `[]`, "", true},
		{"garbage", `}{`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMetadata(tc.text)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", m)
				}
				if !errors.Is(err, ErrBadMetadata) {
					t.Errorf("error %v does not wrap ErrBadMetadata", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := FormatMetadata(m)
			if err != nil {
				t.Fatalf("format: %v", err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestFormatMetadata(t *testing.T) {
	idx := func(d bson.D) bson.Raw { return mustRaw(t, d) }
	tests := []struct {
		name    string
		m       Metadata
		want    string
		wantErr bool
	}{
		{"zero", Metadata{}, `{"indexes":[],"collectionName":""}`, false},
		{"spec example", Metadata{
			Indexes: []bson.Raw{
				idx(doc("v", int32(2), "key", doc("_id", int32(1)), "name", "_id_")),
				idx(doc("v", int32(2), "key", doc("a", int32(1)), "name", "a_1", "expireAfterSeconds", int32(1000))),
			},
			UUID: "ffa7054f30dc422696fa9607e150cb53", CollectionName: "coll1", Type: "collection",
		}, `{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},{"v":{"$numberInt":"2"},"key":{"a":{"$numberInt":"1"}},"name":"a_1","expireAfterSeconds":{"$numberInt":"1000"}}],"uuid":"ffa7054f30dc422696fa9607e150cb53","collectionName":"coll1","type":"collection"}`, false},
		{"empty options omitted", Metadata{Options: idx(doc()), CollectionName: "c"}, `{"indexes":[],"collectionName":"c"}`, false},
		{"view", Metadata{
			Options:        idx(doc("viewOn", "c", "pipeline", bson.A{doc("$match", doc("a", doc("$gt", int64(3600))))})),
			Indexes:        []bson.Raw{},
			CollectionName: "v", Type: "view",
		}, `{"options":{"viewOn":"c","pipeline":[{"$match":{"a":{"$gt":{"$numberLong":"3600"}}}}]},"indexes":[],"collectionName":"v","type":"view"}`, false},
		{"html not escaped, specials escaped", Metadata{
			Options:        idx(doc("validator", doc("$expr", "a<b&&c>d \"q\" \\ \n\t\x01 \u2028 é"))),
			CollectionName: "c<&>",
		}, `{"options":{"validator":{"$expr":"a<b&&c>d \"q\" \\ \n\t\u0001 \u2028 é"}},"indexes":[],"collectionName":"c<&>"}`, false},
		{"doubles", Metadata{
			Options: idx(doc("a", 1.0, "b", 0.1, "c", 1e21, "d", math.Copysign(0, -1), "e", math.Inf(1), "f", math.Inf(-1), "g", math.NaN())),
		}, `{"options":{"a":{"$numberDouble":"1.0"},"b":{"$numberDouble":"0.1"},"c":{"$numberDouble":"1E+21"},"d":{"$numberDouble":"-0.0"},"e":{"$numberDouble":"Infinity"},"f":{"$numberDouble":"-Infinity"},"g":{"$numberDouble":"NaN"}},"indexes":[],"collectionName":""}`, false},
		{"other types", Metadata{
			Options: idx(doc(
				"oid", bson.ObjectID{0x5e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
				"re", bson.Regex{Pattern: "^a", Options: "i"},
				"ts", bson.Timestamp{T: 1, I: 2},
				"min", bson.MinKey{}, "max", bson.MaxKey{}, "n", nil, "t", true,
				"dt", bson.DateTime(1700000000000),
			)),
		}, `{"options":{"oid":{"$oid":"5e0102030405060708090a0b"},"re":{"$regularExpression":{"pattern":"^a","options":"i"}},"ts":{"$timestamp":{"t":1,"i":2}},"min":{"$minKey":1},"max":{"$maxKey":1},"n":null,"t":true,"dt":{"$date":{"$numberLong":"1700000000000"}}},"indexes":[],"collectionName":""}`, false},
		{"invalid utf-8 refused", Metadata{CollectionName: "\xff"}, "", true},
		{"uppercase uuid refused", Metadata{UUID: "FFA7054F30DC422696FA9607E150CB53"}, "", true},
		{"malformed index refused", Metadata{Indexes: []bson.Raw{{1, 2, 3}}}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FormatMetadata(&tc.m)
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrBadMetadata) {
					t.Fatalf("got %q, %v; want an ErrBadMetadata error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			// And it reads back to the same Metadata.
			back, err := ParseMetadata(got)
			if err != nil {
				t.Fatalf("parse back: %v", err)
			}
			if !sameMetadata(back, &tc.m) {
				t.Errorf("parsed back %+v, want %+v", back, tc.m)
			}
		})
	}
}

// sameMetadata compares two Metadata, empty options and indexes being absent.
func sameMetadata(a, b *Metadata) bool {
	norm := func(m *Metadata) Metadata {
		c := *m
		if len(c.Options) <= minDocSize {
			c.Options = nil
		}
		if len(c.Indexes) == 0 {
			c.Indexes = nil
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestRepairKeysLimits(t *testing.T) {
	// Many candidate colons and no valid reading: gives up within the budget.
	text := "{" + strings.Repeat(`"a":"b":`, 2000) + "}"
	if _, ok := repairKeys([]byte(text)); ok {
		t.Error("repaired a text that has no reading")
	}
	if _, err := ParseMetadata(text); !errors.Is(err, ErrBadMetadata) {
		t.Errorf("got %v, want ErrBadMetadata", err)
	}
}

// doc builds a bson.D from alternating keys and values.
func doc(kv ...any) bson.D {
	d := bson.D{}
	for i := 0; i+1 < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return d
}
