package bench

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/mongostash/mongostash/internal/testenv"
)

// storeEnvs are the environments that point the binary at a fresh store of each kind on
// the test bed, versitygw first: the others are measured against it in the same run.
var storeEnvs = []struct {
	name string
	env  func(b *testing.B) map[string]string
}{
	{"versitygw", func(b *testing.B) map[string]string {
		bk := testenv.NewBucket(b)
		return map[string]string{"S3_ENDPOINT": bk.Endpoint, "S3_BUCKET": bk.Name, "S3_ACCESS_KEY": bk.AccessKey,
			"S3_SECRET_KEY": bk.SecretKey, "S3_REGION": bk.Region}
	}},
	{"azurite", func(b *testing.B) map[string]string {
		c := testenv.NewContainer(b)
		return map[string]string{"STORE_URL": "azblob://" + c.Name + "/", "AZURE_STORAGE_CONNECTION_STRING": c.ConnectionString()}
	}},
	{"fake-gcs-server", func(b *testing.B) map[string]string {
		g := testenv.NewGCSBucket(b)
		return map[string]string{"STORE_URL": "gs://" + g.Name + "/", "STORAGE_EMULATOR_HOST": g.Host}
	}},
}

// BenchmarkStores runs `mongostash backup` (zstd) and `mongostash restore` of the base data
// set against each store, and reports each store's medians as ratios to versitygw's from
// the same run (vs-s3-wall: backup or restore time, vs-s3-RSS: peak RSS; issue 21's
// targets: wall ≤ 1/0.9 of the S3 run's, RSS within 10 %).
func BenchmarkStores(b *testing.B) {
	ds := benchData(b, 1)
	s3 := map[string]series{}
	for _, op := range []string{"backup", "restore"} {
		for _, st := range storeEnvs {
			b.Run(op+"/"+st.name, func(b *testing.B) {
				e := st.env(b)
				e["MONGO_URL"], e["MONGO_DATABASE"] = ds.url, ds.db
				key := ""
				if op == "restore" {
					r := runMongostash(b, e, "backup")
					key, _ = r.logValue(b, "backup complete", "key").(string)
				}
				var ours series
				b.SetBytes(ds.bytes)
				for i := 0; b.Loop(); i++ {
					r := runStoreOp(b, e, op, key, ds)
					printRun(b, st.name, i, r)
					ours = append(ours, r)
				}
				reportOurs(b, ours, ds)
				if st.name == "versitygw" {
					s3[op] = ours
					return
				}
				if base := s3[op]; len(base) > 0 {
					b.ReportMetric(ours.wall()/base.wall(), "vs-s3-wall")
					b.ReportMetric(ours.peakRSS()/base.peakRSS(), "vs-s3-RSS")
					fmt.Printf("# %s median of %d: wall %.2fs RSS %.0f MiB | versitygw wall %.2fs RSS %.0f MiB | throughput %.2f× versitygw's (GOMAXPROCS %d)\n",
						b.Name(), len(ours), ours.wall(), ours.peakRSS(), base.wall(), base.peakRSS(), base.wall()/ours.wall(), runtime.GOMAXPROCS(0))
				}
			})
		}
	}
}

func runStoreOp(b *testing.B, e map[string]string, op, key string, ds *dataset) run {
	b.Helper()
	if op == "backup" {
		r := runMongostash(b, e, "backup")
		if docs := r.logNumber(b, "backup complete", "documents"); int64(docs) != ds.docs {
			b.Fatalf("backup wrote %.0f documents, want %d", docs, ds.docs)
		}
		return r
	}
	target := testenv.UniqueName("benchs")
	dropAtExit(target)
	r := runMongostash(b, e, "restore", key, "--ns-from", ds.db+".*", "--ns-to", target+".*")
	if docs := r.logNumber(b, "restore complete", "documents"); int64(docs) != ds.docs {
		b.Fatalf("restore inserted %.0f documents, want %d", docs, ds.docs)
	}
	return r
}
