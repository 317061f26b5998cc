package oplog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mongostash/mongostash/optime"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
)

// The capture follows mongodump --oplog: the start is taken before any collection is
// read (the oldest start of a transaction still open, else the newest entry), the end
// after the last one (the newest entry then), and every entry in between, both ends
// included, goes into the backup. Replayed over the collections, they bring every one of
// them to the state at the end: the backup is consistent at that moment.

// The errors of a capture.
var (
	// ErrNoOplog: the server has no readable oplog.
	ErrNoOplog = errors.New("oplog: no readable oplog")
	// ErrOverflow: the oplog no longer holds the start of the range being captured.
	ErrOverflow = errors.New("oplog: the oplog rolled over during the capture")
)

// Database and collection of the oplog of a replica-set member.
const (
	oplogDB   = "local"
	oplogColl = "oplog.rs"
)

// EntryWriter receives the captured entries; archive.NamespaceWriter is one.
type EntryWriter interface {
	Write(doc []byte) error
}

// CaptureOptions says which entries a capture keeps.
type CaptureOptions struct {
	// Namespaces selects the namespaces whose CRUD entries are kept; nil: all.
	Namespaces func(ns string) bool
	// Databases lists the databases whose commands are kept; empty: all. With both
	// empty the capture keeps every entry as the server wrote it, as mongodump does.
	Databases []string
	// BatchSize of the range read's cursor; default 2000 entries.
	BatchSize int32
	Logger    *slog.Logger
}

// CaptureStats is what a capture wrote.
type CaptureStats struct {
	Start, End  optime.Timestamp // the range asked for, both included
	Entries     int64            // entries written
	Bytes       int64            // their size
	Read        int64            // entries read from the oplog (written or left out)
	First, Last optime.Timestamp // first and last entry written (zero when none)
	Duration    time.Duration    // how long reading the range took
}

// Source reads a server's oplog (local.oplog.rs). On MongoDB the oplog's natural order
// is its timestamp order, and reads follow it, as mongodump's do (no sort, which the
// oplog has no index for). FerretDB writes its oplog entries after taking their
// timestamps, so concurrent writes can land out of order: there, reads sort by ts.
type Source struct {
	coll   *mongo.Collection
	sortTS bool
}

// everyQueryScans reports a server where every query of the oplog reads all of it: FerretDB,
// which has no index on ts and sorts in memory (sortTS). There the newest entry costs as
// much as a whole range read, so a capture learns its end from the range it reads.
func (s *Source) everyQueryScans() bool { return s.sortTS }

// OpenSource returns the oplog source of client's server.
func OpenSource(ctx context.Context, client *mongo.Client) (*Source, error) {
	src := &Source{coll: client.Database(oplogDB).Collection(oplogColl)}
	var info bson.Raw
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return nil, fmt.Errorf("oplog: buildInfo: %w", err)
	}
	if _, err := info.LookupErr("ferretdbVersion"); err == nil {
		src.sortTS = true
	}
	return src, nil
}

// order is the sort that reads the oplog in timestamp order, dir 1 or -1.
func (s *Source) order(dir int) bson.D {
	if s.sortTS {
		return bson.D{{Key: "ts", Value: dir}}
	}
	return bson.D{{Key: "$natural", Value: dir}}
}

// Newest returns the timestamp of the newest entry; ok is false when the oplog is empty.
// A missing or unreadable oplog is ErrNoOplog.
func (s *Source) Newest(ctx context.Context) (optime.Timestamp, bool, error) { return s.edge(ctx, -1) }

// Oldest returns the timestamp of the oldest entry the oplog still holds.
func (s *Source) Oldest(ctx context.Context) (optime.Timestamp, bool, error) { return s.edge(ctx, 1) }

// Capture is an oplog capture running alongside a dump.
type Capture struct {
	src     *Source
	opts    CaptureOptions
	sel     *Selector
	start   optime.Timestamp
	end     optime.Timestamp
	began   time.Time
	started bool // the oplog held an entry at the start (else start is zero)
	ended   bool
	openEnd bool // the end is the last entry the range read returns (everyQueryScans)
}

// BeginCapture starts a capture: it finds the start of the range, and must be called before the
// dump reads any collection. It fails with ErrNoOplog when the server has no readable
// oplog.
func BeginCapture(ctx context.Context, client *mongo.Client, opts CaptureOptions) (*Capture, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	src, err := OpenSource(ctx, client)
	if err != nil {
		return nil, err
	}
	c := &Capture{src: src, opts: opts, sel: NewSelector(opts), began: time.Now()}
	newest, ok, err := src.Newest(ctx)
	if err != nil {
		return nil, err
	}
	txnStart, hasTxn, err := oldestOpenTransaction(ctx, client)
	if err != nil {
		return nil, err
	}
	switch {
	case hasTxn:
		c.start, c.started = txnStart, true
	case ok:
		c.start, c.started = newest, true
	}
	opts.Logger.Debug("oplog capture started", "start", c.start.String(), "open_transaction", hasTxn)
	return c, nil
}

// End takes the end of the range: the newest entry now. Call it once every collection
// has been read. Where every query reads the whole oplog (FerretDB) it asks nothing: the
// end is then the last entry Copy's read returns, which is newer still, and the range is
// read once.
func (c *Capture) End(ctx context.Context) (optime.Timestamp, error) {
	c.ended = true
	if c.src.everyQueryScans() {
		c.openEnd = true
		return optime.Max, nil
	}
	newest, _, err := c.src.Newest(ctx)
	if err != nil {
		return optime.Timestamp{}, err
	}
	c.end = newest
	return newest, nil
}

// errStartGone stops a range read whose first entry is not its start.
var errStartGone = errors.New("oplog: the start of the range is gone")

// Copy writes the entries of the range to w, reading it once: its first entry must be the
// start (an entry the oplog held when the capture began), or the oplog rolled over and
// Copy fails with ErrOverflow — an entry the read passes cannot vanish unseen, since an
// oplog drops its oldest entries first and a read whose position was dropped fails. It
// fails with ErrRefused for an entry that a consistent backup cannot hold.
func (c *Capture) Copy(ctx context.Context, w EntryWriter) (CaptureStats, error) {
	st := CaptureStats{Start: c.start, End: c.end}
	if !c.ended {
		return st, errors.New("oplog: capture copied before its end was taken")
	}
	to := c.end
	if c.openEnd {
		to = optime.Max
	}
	began := time.Now()
	var last optime.Timestamp
	err := c.src.ReadRange(ctx, c.start, to, c.opts.BatchSize, func(raw bson.Raw) error {
		ts, _ := EntryTimestamp(raw)
		if st.Read == 0 && c.started && ts != c.start {
			return errStartGone
		}
		st.Read++
		last = ts
		return c.keep(raw, w, &st)
	})
	st.Duration = time.Since(began)
	switch {
	case errors.Is(err, errStartGone), err == nil && c.started && st.Read == 0:
		return st, c.overflow(ctx)
	case err != nil:
		return st, err
	}
	if c.openEnd {
		c.end, st.End = last, last
	}
	return st, nil
}

// keep writes one entry of the range when the selection keeps it.
func (c *Capture) keep(raw bson.Raw, w EntryWriter, st *CaptureStats) error {
	out, keep, err := c.sel.Keep(raw)
	if err != nil || !keep {
		return err
	}
	if err := w.Write(out); err != nil {
		return err
	}
	ts, _ := EntryTimestamp(out)
	if st.Entries == 0 {
		st.First = ts
	}
	st.Last = ts
	st.Entries++
	st.Bytes += int64(len(out))
	return nil
}

// overflow is the error of a range whose start the oplog no longer holds.
func (c *Capture) overflow(ctx context.Context) error {
	oldest, ok, err := c.src.Oldest(ctx)
	if err != nil {
		return fmt.Errorf("%w: the oplog no longer holds the start %s of the range (and its oldest entry could not be read: %v)", ErrOverflow, c.start.String(), err)
	}
	window := "none"
	if newest, ok2, _ := c.src.Newest(ctx); ok && ok2 {
		window = (time.Duration(int64(newest.T)-int64(oldest.T)) * time.Second).String()
	}
	return fmt.Errorf("%w: the backup needs the entries from %s on, but the oldest entry left is %s: "+
		"the oplog holds about %s of writes and this backup has run for %s. "+
		"Make the oplog larger than the writes of a whole backup (replSetResizeOplog), or run the backup when fewer writes happen",
		ErrOverflow, c.start.String(), describeTS(oldest, ok), window, time.Since(c.began).Round(time.Second))
}

func describeTS(ts optime.Timestamp, ok bool) string {
	if !ok {
		return "none (the oplog is empty)"
	}
	return ts.String()
}

// ReadRange calls fn with every entry with a timestamp in [from, to], in timestamp
// order (checked). PITR reads its chunks with it too.
func (s *Source) ReadRange(ctx context.Context, from, to optime.Timestamp, batch int32, fn func(bson.Raw) error) error {
	coll := s.coll
	filter := bson.D{{Key: "ts", Value: bson.D{{Key: "$gte", Value: bsonTimestamp(from)}, {Key: "$lte", Value: bsonTimestamp(to)}}}}
	opts := options.Find().SetBatchSize(batch)
	if s.sortTS {
		opts.SetSort(s.order(1))
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return fmt.Errorf("oplog: read %s.%s from %s to %s: %w", oplogDB, coll.Name(), from.String(), to.String(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var prev optime.Timestamp
	for cur.Next(ctx) {
		ts, _ := EntryTimestamp(cur.Current)
		if ts.Before(prev) {
			return fmt.Errorf("%w: the oplog returned the entry at %s after the one at %s", ErrOrder, ts.String(), prev.String())
		}
		prev = ts
		if err := fn(cur.Current); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("oplog: read %s.%s: %w", oplogDB, coll.Name(), err)
	}
	return nil
}

// edge returns the timestamp of the newest (dir -1) or oldest (dir 1) entry.
func (s *Source) edge(ctx context.Context, dir int) (optime.Timestamp, bool, error) {
	coll := s.coll
	opts := options.FindOne().SetSort(s.order(dir)).SetProjection(bson.D{{Key: "ts", Value: 1}})
	var doc bson.Raw
	err := coll.FindOne(ctx, bson.D{}, opts).Decode(&doc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		if exists, lerr := collectionExists(ctx, coll); lerr != nil || !exists {
			return optime.Timestamp{}, false, noOplog(lerr)
		}
		return optime.Timestamp{}, false, nil
	case err != nil:
		return optime.Timestamp{}, false, noOplog(err)
	}
	ts, ok := EntryTimestamp(doc)
	if !ok {
		return ts, false, fmt.Errorf("%w: %s.%s holds an entry without a timestamp", ErrNoOplog, oplogDB, oplogColl)
	}
	return ts, true, nil
}

func noOplog(err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s.%s does not exist (the server is not a replica-set member)", ErrNoOplog, oplogDB, oplogColl)
	}
	return fmt.Errorf("%w: cannot read %s.%s (the user needs read access to the local database): %v", ErrNoOplog, oplogDB, oplogColl, err)
}

func collectionExists(ctx context.Context, coll *mongo.Collection) (bool, error) {
	names, err := coll.Database().ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll.Name()}})
	return len(names) > 0, err
}

// oldestOpenTransaction returns the start of the oldest transaction that is prepared or
// in progress: its entries before the capture's start must be captured too, or the
// transaction could not be replayed.
func oldestOpenTransaction(ctx context.Context, client *mongo.Client) (optime.Timestamp, bool, error) {
	coll := client.Database("config").Collection("transactions", options.Collection().SetReadConcern(readconcern.Local()))
	filter := bson.D{{Key: "state", Value: bson.D{{Key: "$in", Value: bson.A{"prepared", "inProgress"}}}}}
	var doc bson.Raw
	err := coll.FindOne(ctx, filter, options.FindOne().SetSort(bson.D{{Key: "startOpTime", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return optime.Timestamp{}, false, nil
	}
	if err != nil {
		return optime.Timestamp{}, false, fmt.Errorf("oplog: find open transactions in config.transactions: %w", err)
	}
	ts, ok := timestampOf(doc.Lookup("startOpTime", "ts"))
	if !ok {
		return ts, false, fmt.Errorf("oplog: config.transactions entry without a startOpTime.ts timestamp: %s", doc)
	}
	return ts, true, nil
}

// Availability says whether a server can give a consistent backup.
type Availability struct {
	ReplicaSet bool   // the server reports a replica-set name
	Readable   bool   // local.oplog.rs exists and can be read
	Reason     string // why not, when Readable is false
}

// Probe finds out whether the server is a replica-set member with a readable oplog.
func Probe(ctx context.Context, client *mongo.Client) (Availability, error) {
	var hello bson.Raw
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return Availability{}, fmt.Errorf("oplog: hello: %w", err)
	}
	_, err := hello.LookupErr("setName")
	a := Availability{ReplicaSet: err == nil}
	src, err := OpenSource(ctx, client)
	if err != nil {
		return a, err
	}
	if _, _, err := src.Newest(ctx); err != nil {
		a.Reason = err.Error()
		return a, nil
	}
	a.Readable = true
	return a, nil
}
