package oplog

import (
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type txnCase struct {
	Ops       []json.RawMessage
	NS        string
	Postimage []json.RawMessage
}

func loadTxnCases(t *testing.T) map[string]txnCase {
	t.Helper()
	b, err := os.ReadFile("testdata/mongo-tools/txn_oplog_entries.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]txnCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != 12 {
		t.Fatalf("testdata: %d cases, want 12", len(cases))
	}
	return cases
}

// TestReplayTransactionVectors replays the transaction cases of mongo-tools' own tests
// (unprepared small and large, prepared committed and aborted, applyOps that are not
// transactions, retryable writes) and checks the collection afterwards against the
// post-image those tests expect.
func TestReplayTransactionVectors(t *testing.T) {
	for name, c := range loadTxnCases(t) {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			var entries []bson.Raw
			for _, o := range c.Ops {
				entries = append(entries, rawJSON(t, o))
			}
			st := b.mustReplay(ReplayOptions{}, entries...)
			_, coll := splitNS(c.NS)
			switch name {
			case "not transaction with multiOpType":
				// Its operations go to test.foo; the case has no post-image.
				equalDocs(t, b.docs("foo"), []bson.Raw{
					ejson(t, `{"_id": 4, "x": -20, "y": 4}`), ejson(t, `{"_id": 5, "x": -30, "y": 11}`)})
				return
			case "not transaction with lsid and txnNumber and command":
				if got := b.indexNames(coll); strings.Join(got, ",") != "_id_,x_1" {
					t.Errorf("indexes: got %v, want _id_ and x_1", got)
				}
			}
			var want []bson.Raw
			for _, p := range c.Postimage {
				want = append(want, rawJSON(t, p))
			}
			got := b.docs(coll)
			sort.Slice(got, func(i, j int) bool { return got[i].Lookup("_id").Int32() < got[j].Lookup("_id").Int32() })
			equalDocs(t, got, want)
			if strings.Contains(name, "aborted") && st.Aborted != 1 {
				t.Errorf("aborted transactions: got %d, want 1", st.Aborted)
			}
		})
	}
}

// TestReplayTransactionChain refuses a transaction whose earlier entries are not in the
// range, and one whose prevOpTime chain is broken, naming the entries.
func TestReplayTransactionChain(t *testing.T) {
	cases := loadTxnCases(t)
	large := cases["large, prepared, committed"].Ops
	b := newBed(t)
	// Without its first entry: the second names it in prevOpTime.
	_, err := b.replay(ReplayOptions{}, rawJSON(t, large[1]), rawJSON(t, large[2]), rawJSON(t, large[3]))
	if !errors.Is(err, ErrTransaction) || !strings.Contains(err.Error(), "1515616500,1") || !strings.Contains(err.Error(), "1515616500,2") {
		t.Errorf("missing first entry: got %v", err)
	}
	// With its second entry missing: the third names the second.
	_, err = b.replay(ReplayOptions{}, rawJSON(t, large[0]), rawJSON(t, large[2]), rawJSON(t, large[3]))
	if !errors.Is(err, ErrTransaction) || !strings.Contains(err.Error(), "1515616500,2") {
		t.Errorf("broken chain: got %v", err)
	}
	if got := b.collections(); len(got) != 0 {
		t.Errorf("a refused transaction wrote %v", got)
	}
}

// TestReplayOpenTransactionLeftOut: a prepared transaction without its decision in the
// range was not committed at its end, so nothing of it is applied.
func TestReplayOpenTransactionLeftOut(t *testing.T) {
	cases := loadTxnCases(t)
	ops := cases["large, prepared, committed"].Ops
	b := newBed(t)
	st := b.mustReplay(ReplayOptions{}, rawJSON(t, ops[0]), rawJSON(t, ops[1]), rawJSON(t, ops[2]))
	if st.Aborted != 1 || st.Transactions != 0 {
		t.Errorf("stats: %+v", st)
	}
	if got := b.docs("g"); len(got) != 0 {
		t.Errorf("documents of an uncommitted transaction: %v", got)
	}
}

// TestReplayLargeTransactionSpills commits a transaction of 3,000 operations held in a
// spool of 4 KiB of memory: the rest goes to a file, which is removed afterwards.
func TestReplayLargeTransactionSpills(t *testing.T) {
	b := newBed(t)
	dir := t.TempDir()
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}
	var entries []bson.Raw
	prev := bson.Timestamp{}
	for chunk := 0; chunk < 30; chunk++ {
		var ops bson.A
		for i := 0; i < 100; i++ {
			ops = append(ops, bson.D{{Key: "op", Value: "i"}, {Key: "ns", Value: "src.big"},
				{Key: "o", Value: bson.D{{Key: "_id", Value: int32(chunk*100 + i)}, {Key: "pad", Value: strings.Repeat("x", 50)}}}})
		}
		o := bson.D{{Key: "applyOps", Value: ops}}
		if chunk < 29 {
			o = append(o, bson.E{Key: "partialTxn", Value: true})
		}
		ts := bson.Timestamp{T: 1700000000, I: uint32(chunk + 1)}
		raw, _ := bson.Marshal(bson.D{{Key: "ts", Value: ts}, {Key: "op", Value: "c"}, {Key: "ns", Value: "admin.$cmd"},
			{Key: "o", Value: o}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(7)},
			{Key: "prevOpTime", Value: bson.D{{Key: "ts", Value: prev}, {Key: "t", Value: int64(-1)}}}})
		entries = append(entries, raw)
		prev = ts
	}
	st := b.mustReplay(ReplayOptions{SpoolDir: dir, SpoolMemory: 4 << 10}, entries...)
	if st.Transactions != 1 {
		t.Errorf("transactions: %d", st.Transactions)
	}
	if n := len(b.docs("big")); n != 3000 {
		t.Errorf("documents: got %d, want 3000", n)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}
