package main

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/internal/sample"
)

// holdingProxy forwards TCP connections to target, holding every large client-to-server
// read (an insert batch) back for delay, in order, and still delivering it after the
// client is gone: a server that runs a killed client's last insert a few seconds after the
// kill, as a busy one does. Small commands go through at once. late counts the large reads
// it delivered after their client had closed its side.
type holdingProxy struct {
	addr  string
	held  atomic.Int64 // large reads waiting to be delivered
	late  atomic.Int64
	delay time.Duration
}

const holdAtLeast = 16 << 10 // reads this large are batches of documents

func startHoldingProxy(t *testing.T, target string, delay time.Duration) *holdingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProxy{addr: l.Addr().String(), delay: delay}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c, target) }()
		}
	}()
	return p
}

type heldChunk struct {
	due       time.Time
	data      []byte
	afterGone *atomic.Bool // the client had closed by the time this was delivered
}

func (p *holdingProxy) serve(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(client, server) }() // answers go back at once
	queue := make(chan heldChunk, 1024)
	var gone atomic.Bool
	go func() {
		defer close(queue)
		var last time.Time
		for {
			buf := make([]byte, 1<<20)
			n, err := client.Read(buf)
			if n > 0 {
				due := time.Now()
				if n >= holdAtLeast {
					due = due.Add(p.delay)
					p.held.Add(1)
				}
				if due.Before(last) {
					due = last // keep the order of the bytes
				}
				last = due
				queue <- heldChunk{due: due, data: buf[:n], afterGone: &gone}
			}
			if err != nil {
				gone.Store(true)
				return
			}
		}
	}()
	for c := range queue {
		time.Sleep(time.Until(c.due))
		if _, err := server.Write(c.data); err != nil {
			return
		}
		if len(c.data) >= holdAtLeast {
			p.held.Add(-1)
			if c.afterGone.Load() {
				p.late.Add(1)
			}
		}
	}
	// The client is gone: let the server finish what it was sent, as it would.
	if tc, ok := server.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = server.SetReadDeadline(time.Now().Add(2 * time.Minute))
	_, _ = io.Copy(io.Discard, server)
}

// TestFaultRestoreKilledNextLeavesNoTemporary: a restore --drop killed with kill -9 in the
// middle of a batch, whose last inserts the server runs only after the kill (the proxy
// holds them a few seconds), and the next restore started at once: that restore drops the
// killed one's temporary collection, sees it come back when the held insert lands, drops
// it again, and ends with no temporary in the database and the backup restored exactly.
// (Before the fix, the insert re-created the temporary after the only drop, and it stayed.)
func TestFaultRestoreKilledNextLeavesNoTemporary(t *testing.T) {
	b := newBed(t)
	m := b.mongo
	if _, err := sample.Load(context.Background(), m.Client, m.DB, 20000); err != nil {
		t.Fatal(err)
	}
	want := takeSnapshot(t, m.Client, m.DB)
	mustRun(t, b.env, "backup")
	args := []string{"restore", "--drop", "--ns-exclude", "*.audit.log"} // FerretDB cannot rename a dotted name

	u, err := url.Parse(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startHoldingProxy(t, u.Host, 4*time.Second)
	u.Host = proxy.addr
	killed := startBin(t, b.env.with("MONGO_URL", u.String(), "MONGO_TIMEOUT", "60s"), args...)
	waitHeldInsert(t, m.Client, m.DB, proxy, killed)
	_ = killed.cmd.Process.Kill() // SIGKILL: nothing of the restore's own cleanup runs
	<-killed.done

	r := mustRun(t, b.env, args...)
	// Judge only once the proxy delivered everything it held: a fast server finishes the
	// next restore before the held inserts land, and they must not land unseen after it.
	for deadline := time.Now().Add(time.Minute); proxy.held.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // for the server to run the last one
	if proxy.late.Load() == 0 {
		t.Fatalf("no insert of the killed restore reached the server after the kill: the test did not exercise the late insert")
	}
	t.Logf("%d held inserts of the killed restore reached the server after the kill", proxy.late.Load())
	if !strings.Contains(r.stderr, "came back after it was dropped") && !strings.Contains(r.stderr, "after the swap") {
		t.Errorf("the next restore never saw the temporary come back (the held insert landed after it ended?):\n%s", r.stderr)
	}
	noTemporaries(t, m.Client, m.DB)
	compareSnapshots(t, takeSnapshot(t, m.Client, m.DB), want)
}

// waitHeldInsert waits until the restore writes a temporary collection and the proxy
// holds a batch of documents on its way to the server: an insert is in flight.
func waitHeldInsert(t *testing.T, client *mongo.Client, db string, proxy *holdingProxy, rs *bg) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-rs.done:
			t.Fatalf("the restore ended before the kill:\n%s", rs.log())
		default:
		}
		if proxy.held.Load() > 0 {
			names, _ := client.Database(db).ListCollectionNames(context.Background(), bson.D{})
			for _, n := range names {
				if dump.IsTemporary(n) {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no insert into a temporary collection within 5 minutes:\n%s", rs.log())
}
