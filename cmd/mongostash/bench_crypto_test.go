package main

// Benchmarks of age encryption (issue 16, "Performance"): encryption may add at most 10 % to
// a backup's wall time and 5 MiB to its peak RSS, and decryption the same to a restore.
//
//   - BenchmarkEncryptionCost/{backup,restore}: the real binary against the test bed, the
//     50,000-document database with zstd, plain and encrypted to one age recipient, run
//     alternately in the same loop (the order flips every iteration) so that both see the
//     same load of the shared machine. Reported: seconds per run of each, their ratio
//     (age/plain, wall and CPU), each one's peak RSS and the difference. Use
//     -benchtime=Nx for N pairs.
//   - BenchmarkLayers/{zstd,zstd+age}/{encode,decode}: the byte layers alone over the
//     in-memory archive, no server and no process: the client CPU encryption adds.

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/mongostash/mongostash/catalog"
	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/stream"
)

// benchPair accumulates the runs of the plain and the encrypted variant.
type benchPair struct {
	wall, cpu [2]time.Duration
	rssKiB    [2]int64
	n         int
}

func (p *benchPair) add(i int, r benchRunResult) {
	p.wall[i] += r.wall
	p.cpu[i] += r.cpu
	p.rssKiB[i] = max(p.rssKiB[i], r.rssKiB)
}

func (p *benchPair) report(b *testing.B) {
	n := float64(p.n)
	b.ReportMetric(p.wall[0].Seconds()/n, "plain-s/op")
	b.ReportMetric(p.wall[1].Seconds()/n, "age-s/op")
	b.ReportMetric(p.wall[1].Seconds()/p.wall[0].Seconds(), "wall-ratio")
	b.ReportMetric(p.cpu[1].Seconds()/p.cpu[0].Seconds(), "cpu-ratio")
	b.ReportMetric(float64(p.rssKiB[0])/1024, "plain-peak-RSS-MiB")
	b.ReportMetric(float64(p.rssKiB[1])/1024, "age-peak-RSS-MiB")
	b.ReportMetric(float64(p.rssKiB[1]-p.rssKiB[0])/1024, "RSS-delta-MiB")
}

func benchAgeKey(b *testing.B) (identityFile, recipient string) {
	b.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	identityFile = b.TempDir() + "/key.txt"
	if err := os.WriteFile(identityFile, []byte(id.String()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	return identityFile, id.Recipient().String()
}

func BenchmarkEncryptionCost(b *testing.B) {
	ds := benchData(b, 1)
	identity, recipient := benchAgeKey(b)
	e, _ := benchBed(b, ds)
	envs := [2]env{e, e.with("BACKUP_AGE_RECIPIENTS", recipient, "AGE_IDENTITY_FILE", identity)}

	b.Run("backup", func(b *testing.B) {
		b.SetBytes(ds.bytes)
		var p benchPair
		for b.Loop() {
			for _, i := range [2]int{p.n % 2, 1 - p.n%2} {
				r := benchRun(b, envs[i], "backup")
				if docs := r.logValue(b, "backup complete", "documents"); int64(docs) != ds.docs {
					b.Fatalf("backup wrote %.0f documents, want %d", docs, ds.docs)
				}
				p.add(i, r)
			}
			p.n++
		}
		p.report(b)
	})

	b.Run("restore", func(b *testing.B) {
		var keys [2]string
		for i := range envs { // one backup of each, untimed
			r := benchRun(b, envs[i], "backup")
			for _, m := range r.logs {
				if k, ok := m["key"].(string); ok && m["msg"] == "backup complete" {
					keys[i] = k
				}
			}
			if keys[i] == "" {
				b.Fatal(errors.New("the backup logged no key"))
			}
		}
		b.SetBytes(ds.bytes)
		var p benchPair
		for b.Loop() {
			for _, i := range [2]int{p.n % 2, 1 - p.n%2} {
				target := testenv.UniqueName("benchr")
				r := benchRun(b, envs[i], "restore", keys[i], "--ns-from", ds.db+".*", "--ns-to", target+".*")
				if docs := r.logValue(b, "restore complete", "documents"); int64(docs) != ds.docs {
					b.Fatalf("restore inserted %.0f documents, want %d", docs, ds.docs)
				}
				p.add(i, r)
				benchDrop(b, ds.client, target)
			}
			p.n++
		}
		p.report(b)
	})
}

// BenchmarkLayers is NewWriter and Open over the in-memory archive, with and without age.
func BenchmarkLayers(b *testing.B) {
	a := benchInMemory(b, benchData(b, 1))
	identity, recipient := benchAgeKey(b)
	rs, err := stream.ParseRecipients(bytes.NewReader([]byte(recipient)))
	if err != nil {
		b.Fatal(err)
	}
	idBytes, err := os.ReadFile(identity)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := stream.ParseIdentities(bytes.NewReader(idBytes))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		enc  stream.Encoding
	}{
		{"zstd", stream.Encoding{Compression: catalog.Zstd}},
		{"zstd+age", stream.Encoding{Compression: catalog.Zstd, Recipients: rs}},
	} {
		var stored bytes.Buffer
		b.Run(tc.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(a.plain)))
			b.ReportAllocs()
			before := benchReadCPU(b)
			for b.Loop() {
				stored.Reset()
				w, err := stream.NewWriter(&stored, tc.enc)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(a.plain); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			after := benchReadCPU(b)
			b.ReportMetric((after.self-before.self).Seconds()/float64(b.N)/(float64(len(a.plain))/100e6), "cpu-s/100MB")
		})
		b.Run(tc.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(a.plain)))
			b.ReportAllocs()
			before := benchReadCPU(b)
			for b.Loop() {
				plain, _, err := stream.Open(bytes.NewReader(stored.Bytes()), ids)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, plain)
				plain.Close()
				if err != nil || n != int64(len(a.plain)) {
					b.Fatalf("decoded %d bytes, %v; want %d", n, err, len(a.plain))
				}
			}
			after := benchReadCPU(b)
			b.ReportMetric((after.self-before.self).Seconds()/float64(b.N)/(float64(len(a.plain))/100e6), "cpu-s/100MB")
		})
	}
}
