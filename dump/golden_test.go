package dump

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/dump/archive"
	"github.com/mongostash/mongostash/dump/ns"
	"github.com/mongostash/mongostash/internal/testenv"
)

// The golden archives were written by real mongodump against real mongod servers (and
// FerretDB); see archive/testdata/README.md.
func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("archive", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plainArchive reads a golden file as a plain archive, gunzipping the .gz one (detecting
// compression is package stream's business, tested there).
func plainArchive(t *testing.T, name string, data []byte) io.Reader {
	t.Helper()
	if !strings.HasSuffix(name, ".gz") {
		return bytes.NewReader(data)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func goldenPrelude(t *testing.T, name string) *archive.Prelude {
	t.Helper()
	p, err := archive.NewReader(bytes.NewReader(golden(t, name))).Prelude()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// renameDatabases maps every database of the archive to a fresh one, so that golden
// restores never meet each other on the shared test server.
func renameDatabases(t *testing.T, m *testenv.Mongo, p *archive.Prelude) (*ns.Renamer, map[string]string) {
	t.Helper()
	var from, to []string
	dbs := map[string]string{}
	for _, e := range p.Entries {
		if e.DB == "" || dbs[e.DB] != "" {
			continue
		}
		dbs[e.DB] = testenv.UniqueName("g")
		from = append(from, ns.Escape(e.DB)+".*")
		to = append(to, dbs[e.DB]+".*")
		target := dbs[e.DB]
		t.Cleanup(func() { _ = m.Client.Database(target).Drop(context.Background()) })
	}
	r, err := ns.NewRenamer(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return r, dbs
}

// TestRestoreGoldenArchives restores every golden archive FerretDB can hold and checks the
// namespaces and counts its README lists. What FerretDB cannot hold is said per case.
func TestRestoreGoldenArchives(t *testing.T) {
	cases := []struct {
		file    string
		filter  []string         // exclude patterns, for what FerretDB cannot create
		want    map[string]int64 // source namespace -> documents
		skipped []string         // source data namespaces restore must skip, with a reason
		noIndex bool             // FerretDB cannot build the archive's indexes
		wantErr error            // the restore must fail with this, after planning
	}{
		{file: "mongodump-100.18.0-ferretdb-shop.archive", want: map[string]int64{"shop.events": 1, "shop.metrics": 1, "shop.orders": 1000, "shop.users": 2}},
		{file: "mongodump-100.18.0-ferretdb-shop.archive.gz", want: map[string]int64{"shop.events": 1, "shop.metrics": 1, "shop.orders": 1000, "shop.users": 2}},
		{file: "mongodump-r3.4.3-test-bar.archive", want: map[string]int64{"test.bar": 1}, skipped: []string{"admin.system.version"}},
		{file: "mongodump-r4.1.3-oplog.archive", want: map[string]int64{"test.foo": 25}, skipped: []string{"admin.system.version", ".oplog"}},
		// FerretDB v1 fails on an index whose key name holds quotes (an SQL error inside
		// FerretDB); TestGoldenQuotedIndexKey checks the spec itself survives.
		{file: "mongodump-r4.2.2-quoted-index-key.archive", want: map[string]int64{"test.ixtest": 0}, noIndex: true},
		// FerretDB cannot create time-series collections: the time-series entry is
		// excluded here, which leaves nothing to restore (an error); TestPlanTimeseries
		// checks its mapping to the buckets namespace.
		{file: "mongodump-100.3.1-timeseries.archive", filter: []string{"timeseries_test.*"}, want: map[string]int64{}, skipped: []string{"admin.system.version", "admin.system.views"}, wantErr: ErrNothingToRestore},
	}
	m := testenv.NewMongo(t)
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data := golden(t, tc.file)
			plain, raw := plainArchive(t, tc.file, data), plainArchive(t, tc.file, data)
			p, err := archive.NewReader(raw).Prelude()
			if err != nil {
				t.Fatal(err)
			}
			renamer, dbs := renameDatabases(t, m, p)
			var filter NamespaceFilter
			if len(tc.filter) > 0 {
				f, err := ns.NewMatcher(nil, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				filter = f
			}
			stats, err := Restore(ctxT(t), m.Client, plain, RestoreOptions{Renamer: renamer, Filter: filter, NoIndex: tc.noIndex})
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("restore: got %v, want %v", err, tc.wantErr)
			} else if tc.wantErr == nil && err != nil {
				t.Fatalf("restore: %v", err)
			}
			for _, s := range tc.skipped {
				if stats.Skipped[s] == "" {
					t.Errorf("%s should be skipped with a reason; skipped: %v", s, stats.Skipped)
				}
			}
			got := map[string]int64{}
			for _, n := range stats.Namespaces {
				got[n.Namespace] = n.Documents
			}
			for source, n := range tc.want {
				db, coll := ns.Split(source)
				target := dbs[db] + "." + coll
				if got[target] != n {
					t.Errorf("%s: restore reported %d documents, want %d (all: %v)", source, got[target], n, got)
				}
				count, err := m.Client.Database(dbs[db]).Collection(coll).CountDocuments(ctxT(t), bson.D{})
				if err != nil {
					t.Fatal(err)
				}
				if count != n {
					t.Errorf("%s: server holds %d documents, want %d", source, count, n)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("restored %v, want exactly %v", got, tc.want)
			}
		})
	}
}

// TestRestoreGoldenIndexes: the legacy and odd index specs of the golden archives arrive:
// r3.4.3's (with ns, and v as Decimal128), and r4.2.2's key named `{"a":"b"}`.
func TestRestoreGoldenIndexes(t *testing.T) {
	m := testenv.NewMongo(t)
	for _, file := range []string{"mongodump-r3.4.3-test-bar.archive", "mongodump-100.18.0-ferretdb-shop.archive"} {
		t.Run(file, func(t *testing.T) {
			p := goldenPrelude(t, file)
			renamer, dbs := renameDatabases(t, m, p)
			if _, err := Restore(ctxT(t), m.Client, bytes.NewReader(golden(t, file)), RestoreOptions{Renamer: renamer}); err != nil {
				t.Fatalf("restore: %v", err)
			}
			for _, e := range p.Entries {
				if e.Metadata == "" || strings.HasPrefix(e.Collection, "system.") {
					continue
				}
				md, err := archive.ParseMetadata(e.Metadata)
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, spec := range md.Indexes {
					name, _ := spec.Lookup("name").StringValueOK()
					key, _ := spec.Lookup("key").DocumentOK()
					nk, err := normalizeKey(key)
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, fmt.Sprintf("%s %v", name, nk))
				}
				specs, err := m.Client.Database(dbs[e.DB]).Collection(e.Collection).Indexes().ListSpecifications(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, s := range specs {
					var key bson.D
					if err := bson.Unmarshal(s.KeysDocument, &key); err != nil {
						t.Fatal(err)
					}
					got = append(got, fmt.Sprintf("%s %v", s.Name, key))
				}
				sort.Strings(got)
				sort.Strings(want)
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("%s indexes:\ngot  %v\nwant %v", e.Namespace(), got, want)
				}
			}
		})
	}
}

// TestGoldenQuotedIndexKey: the r4.2.2 archive's index on the field named {"a":"b"} keeps
// its key name through parsing and the createIndexes spec (FerretDB cannot build it, so
// this is checked without a server).
func TestGoldenQuotedIndexKey(t *testing.T) {
	p := goldenPrelude(t, "mongodump-r4.2.2-quoted-index-key.archive")
	md, err := archive.ParseMetadata(p.Entries[0].Metadata)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := restorableIndexes(md.Indexes)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("got %d specs, want the one secondary index: %v", len(specs), specs)
	}
	b, _ := bson.Marshal(specs[0])
	key, _ := bson.Raw(b).Lookup("key").DocumentOK()
	elems, _ := key.Elements()
	if len(elems) != 1 || elems[0].Key() != `{"a":"b"}` {
		t.Errorf("key %s: want one field named {\"a\":\"b\"}", key)
	}
}
