package bench

// Benchmarks of age encryption (issue 16, "Performance"): encryption may add at most 10 % to
// a backup's wall time and 5 MiB to its peak RSS, and decryption the same to a restore.
//
//   - BenchmarkEncryptionCost/{backup,restore}: the real binary, the base data set with
//     zstd, plain and encrypted to one age recipient, run alternately in the same loop (the
//     order flips every iteration) so that both see the same load of the shared machine.
//     Reported: medians of each, their ratio (age/plain, wall and CPU), each one's peak RSS
//     and the difference.
//   - BenchmarkLayers/{zstd,zstd+age}/{encode,decode}: the byte layers alone over the
//     in-memory archive, no server and no process: the client CPU encryption adds.

import (
	"bytes"
	"io"
	"maps"
	"os"
	"testing"

	"filippo.io/age"

	"github.com/mongostash/mongostash/internal/testenv"
	"github.com/mongostash/mongostash/stream"
)

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

// reportPair reports the medians of the plain and the encrypted runs and their ratios.
func reportPair(b *testing.B, plain, enc series) {
	b.Helper()
	b.ReportMetric(plain.wall(), "plain-s/op")
	b.ReportMetric(enc.wall(), "age-s/op")
	b.ReportMetric(enc.wall()/plain.wall(), "wall-ratio")
	b.ReportMetric(enc.cpu()/plain.cpu(), "cpu-ratio")
	b.ReportMetric(plain.peakRSS(), "plain-peak-RSS-MiB")
	b.ReportMetric(enc.peakRSS(), "age-peak-RSS-MiB")
	b.ReportMetric(enc.peakRSS()-plain.peakRSS(), "RSS-delta-MiB")
}

func BenchmarkEncryptionCost(b *testing.B) {
	ds := benchData(b, 1)
	identity, recipient := benchAgeKey(b)
	plainEnv := newBed(b, ds).env
	ageEnv := maps.Clone(plainEnv)
	ageEnv["BACKUP_AGE_RECIPIENTS"], ageEnv["AGE_IDENTITY_FILE"] = recipient, identity
	envs := [2]map[string]string{plainEnv, ageEnv}
	names := [2]string{"plain", "age"}

	b.Run("backup", func(b *testing.B) {
		b.SetBytes(ds.bytes)
		var runs [2]series
		for n := 0; b.Loop(); n++ {
			for _, i := range [2]int{n % 2, 1 - n%2} {
				r := runMongostash(b, envs[i], "backup")
				if docs := r.logNumber(b, "backup complete", "documents"); int64(docs) != ds.docs {
					b.Fatalf("backup wrote %.0f documents, want %d", docs, ds.docs)
				}
				printRun(b, names[i], n, r)
				runs[i] = append(runs[i], r)
			}
		}
		reportPair(b, runs[0], runs[1])
	})

	b.Run("restore", func(b *testing.B) {
		var keys [2]string
		for i := range envs { // one backup of each, untimed
			key, ok := runMongostash(b, envs[i], "backup").logValue(b, "backup complete", "key").(string)
			if !ok {
				b.Fatal("the backup logged no key")
			}
			keys[i] = key
		}
		b.SetBytes(ds.bytes)
		var runs [2]series
		for n := 0; b.Loop(); n++ {
			for _, i := range [2]int{n % 2, 1 - n%2} {
				target := testenv.UniqueName("benchr")
				dropAtExit(target)
				r := runMongostash(b, envs[i], "restore", keys[i], "--ns-from", ds.db+".*", "--ns-to", target+".*")
				if docs := r.logNumber(b, "restore complete", "documents"); int64(docs) != ds.docs {
					b.Fatalf("restore inserted %.0f documents, want %d", docs, ds.docs)
				}
				printRun(b, names[i], n, r)
				runs[i] = append(runs[i], r)
				dropDB(b, ds.client, target)
			}
		}
		reportPair(b, runs[0], runs[1])
	})
}

// BenchmarkLayers is NewWriter and Open over the in-memory archive, with and without age.
func BenchmarkLayers(b *testing.B) {
	a := inMemory(b, benchData(b, 1))
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
		{"zstd", stream.Encoding{Compression: stream.Zstd}},
		{"zstd+age", stream.Encoding{Compression: stream.Zstd, Recipients: rs}},
	} {
		var stored bytes.Buffer
		b.Run(tc.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(a.plain)))
			b.ReportAllocs()
			before := selfCPU(b)
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
			b.ReportMetric((selfCPU(b)-before).Seconds()/float64(b.N)/(float64(len(a.plain))/100e6), "cpu-s/100MB")
		})
		b.Run(tc.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(a.plain)))
			b.ReportAllocs()
			before := selfCPU(b)
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
			b.ReportMetric((selfCPU(b)-before).Seconds()/float64(b.N)/(float64(len(a.plain))/100e6), "cpu-s/100MB")
		})
	}
}
