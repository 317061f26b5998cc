package dump

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// rollbackTimeout bounds the whole rollback, so that a restore against a server that went
// away ends with a description of what is where rather than waiting on it.
const rollbackTimeout = 3 * time.Minute

// rollback undoes a restore with Drop that failed: every collection moved aside is renamed
// back, every restored copy and every collection this restore created is dropped, every
// replaced view recreated. It decides from what the target databases hold, not from what
// the journal believes, since the last command before the failure may or may not have taken
// effect. It returns cause with what the target now looks like: exactly as before, or —
// only when the rollback itself failed — the state of each collection it could not restore
// and how to finish by hand.
func (rs *restorer) rollback(ctx context.Context, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	journal := rs.swapJournal()
	begun := 0
	for _, e := range journal {
		if e.replaces() && e.phase != swapNotStarted {
			begun++
		}
	}
	rb := &rollbackRun{rs: rs}
	rb.list(ctx, journal)
	var stuck []string
	for i := len(journal) - 1; i >= 0; i-- {
		stuck = append(stuck, rb.undo(ctx, journal[i])...)
	}
	why := ""
	if rb.unreachable != nil {
		why = fmt.Sprintf(" (%v)", rb.unreachable)
	}
	switch {
	case len(stuck) > 0 && begun == 0:
		// No existing collection was touched: only what this restore wrote is left over.
		return fmt.Errorf("%w (nothing was replaced: existing collections are unchanged; but what this restore wrote could not all be removed%s: %s)",
			cause, why, strings.Join(stuck, "; "))
	case len(stuck) > 0 && rb.unreachable != nil:
		return fmt.Errorf("%w; rolling back failed too (%v), so the target databases are NOT as before. Their state, as far as this restore knows: %s",
			cause, rb.unreachable, strings.Join(stuck, "; "))
	case len(stuck) > 0:
		return fmt.Errorf("%w; rolling back failed too, so the target databases are NOT as before: %s", cause, strings.Join(stuck, "; "))
	case begun > 0:
		return fmt.Errorf("%w (rolled back: %s the swap had begun to replace put back, every restored copy dropped; existing collections are unchanged)", cause, plural(begun, "collection"))
	}
	return fmt.Errorf("%w (nothing was replaced: existing collections are unchanged)", cause)
}

// rollbackRun is one rollback: what the target databases hold, and whether the server can
// still be talked to.
type rollbackRun struct {
	rs          *restorer
	present     map[string]map[string]bool // database -> collection or view names
	unreachable error                      // set once the server stopped answering
}

// list learns what the databases of the journal hold now.
func (rb *rollbackRun) list(ctx context.Context, journal []*swapEntry) {
	rb.present = map[string]map[string]bool{}
	for _, e := range journal {
		if rb.present[e.db] != nil || rb.unreachable != nil {
			continue
		}
		names, err := rb.rs.client.Database(e.db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			rb.unreachable = fmt.Errorf("list collections of %s: %w", e.db, err)
			return
		}
		rb.present[e.db] = map[string]bool{}
		for _, n := range names {
			rb.present[e.db][n] = true
		}
	}
}

func (rb *rollbackRun) has(db, name string) bool { return rb.present[db][name] }

// do runs one command of the rollback; once the server stopped answering, none is tried.
func (rb *rollbackRun) do(ctx context.Context, f func(context.Context) error) error {
	if rb.unreachable != nil {
		return rb.unreachable
	}
	var err error
	if hook := rb.rs.opts.rollbackHook; hook != nil {
		err = hook()
	}
	if err == nil {
		err = f(ctx)
	}
	if err != nil && !serverAnswered(err) {
		rb.unreachable = err
	}
	return err
}

// undo restores one entry and returns what it could not restore, in words an operator can
// act on.
func (rb *rollbackRun) undo(ctx context.Context, e *swapEntry) []string {
	if rb.unreachable != nil {
		return describeUnreached(e)
	}
	var stuck []string
	d := rb.rs.client.Database(e.db)
	drop := func(name string) error {
		return rb.do(ctx, func(ctx context.Context) error { return d.Collection(name).Drop(ctx) })
	}
	switch {
	case e.aside != "" && rb.has(e.db, e.aside):
		// The existing data is aside: whatever holds the target's name now is the restored
		// copy, put there by this restore.
		if rb.has(e.db, e.name) {
			if err := drop(e.name); err != nil {
				return append(stuck, fmt.Sprintf("%s holds the restored data and %s.%s the data it had before (could not drop the former: %v): drop %s, then rename %s.%s to %s",
					e.ns(), e.db, e.aside, err, e.ns(), e.db, e.aside, e.name))
			}
		}
		if err := rb.do(ctx, func(ctx context.Context) error { return rb.rs.renameCollection(ctx, e.db, e.aside, e.name) }); err != nil {
			return append(stuck, fmt.Sprintf("the data %s had before is in %s.%s (could not rename it back: %v): rename %s.%s to %s",
				e.ns(), e.db, e.aside, err, e.db, e.aside, e.name))
		}
	case e.aside != "" && e.phase >= swapMovedAside:
		stuck = append(stuck, fmt.Sprintf("the data %s had before was moved to %s.%s, which no longer exists", e.ns(), e.db, e.aside))
	case e.oldView != nil && e.phase >= swapMovingAside:
		if msg := rb.recreateView(ctx, e); msg != "" {
			stuck = append(stuck, msg)
		}
	}
	if e.tmp != "" && rb.has(e.db, e.tmp) {
		if err := drop(e.tmp); err != nil {
			stuck = append(stuck, fmt.Sprintf("%s.%s is a restored copy that could not be dropped (%v): drop it; the next restore into %s drops it too", e.db, e.tmp, err, e.db))
		}
	}
	if (e.created || (e.newView != nil && !e.replaces() && e.phase >= swapMovingIn)) && rb.has(e.db, e.name) {
		if err := drop(e.name); err != nil {
			stuck = append(stuck, fmt.Sprintf("%s did not exist before this restore and could not be dropped (%v): drop it", e.ns(), err))
		} else if e.timeseries {
			_ = drop("system.buckets." + e.name)
		}
	}
	return stuck
}

// recreateView puts back a view the swap dropped, unless it is still there unchanged.
func (rb *rollbackRun) recreateView(ctx context.Context, e *swapEntry) string {
	d := rb.rs.client.Database(e.db)
	if rb.has(e.db, e.name) {
		if e.phase == swapMovingAside {
			// The drop may not have happened; the view there may be the old one. Only the
			// new view (created after the drop answered) would need replacing.
			return ""
		}
		if err := rb.do(ctx, func(ctx context.Context) error { return d.Collection(e.name).Drop(ctx) }); err != nil {
			return fmt.Sprintf("%s is the restored view and could not be dropped (%v); drop it, then recreate the view it replaced: %s", e.ns(), err, viewDefinition(e))
		}
	}
	if err := rb.do(ctx, func(ctx context.Context) error { return d.RunCommand(ctx, viewCreateCommand(e)).Err() }); err != nil {
		return fmt.Sprintf("the view %s was dropped and could not be recreated (%v): recreate it: %s", e.ns(), err, viewDefinition(e))
	}
	return ""
}

// viewCreateCommand is the create command of the view an entry replaced, from its
// listCollections answer.
func viewCreateCommand(e *swapEntry) bson.D {
	cmd := bson.D{{Key: "create", Value: e.name}}
	if opts, ok := e.oldView.Lookup("options").DocumentOK(); ok {
		if elems, err := opts.Elements(); err == nil {
			for _, el := range elems {
				cmd = append(cmd, bson.E{Key: el.Key(), Value: el.Value()})
			}
		}
	}
	return cmd
}

func viewDefinition(e *swapEntry) string {
	b, err := bson.MarshalExtJSON(viewCreateCommand(e), false, false)
	if err != nil {
		return "(its definition could not be printed)"
	}
	return fmt.Sprintf("db.getSiblingDB(%q).runCommand(%s)", e.db, b)
}

// describeUnreached says where an entry's data is, from the journal alone, when the
// server could not be asked.
func describeUnreached(e *swapEntry) []string {
	var out []string
	old := e.db + "." + e.aside
	switch {
	case e.aside != "" && e.phase == swapMovingAside:
		out = append(out, fmt.Sprintf("%s was being renamed to %s: its data is under one of these two names; if under the second, rename it back to %s", e.ns(), old, e.name))
	case e.aside != "" && e.phase == swapMovedAside:
		out = append(out, fmt.Sprintf("the data %s had before is in %s: rename it back to %s", e.ns(), old, e.name))
	case e.aside != "" && e.phase == swapMovingIn:
		out = append(out, fmt.Sprintf("the data %s had before is in %s, and %s may already hold the restored data: drop %s if it exists, then rename %s to %s", e.ns(), old, e.ns(), e.ns(), old, e.name))
	case e.aside != "" && e.phase == swapMovedIn:
		out = append(out, fmt.Sprintf("%s holds the restored data and %s the data it had before: to go back, drop %s and rename %s to %s; to keep the restored data, drop %s", e.ns(), old, e.ns(), old, e.name, old))
	case e.oldView != nil && e.phase >= swapMovingAside:
		out = append(out, fmt.Sprintf("the view %s may have been dropped: if it is missing or not the old one, recreate it: %s", e.ns(), viewDefinition(e)))
	}
	switch {
	case e.tmp != "" && e.phase < swapMovingIn:
		out = append(out, fmt.Sprintf("%s.%s is a restored copy: drop it (the next restore into %s does)", e.db, e.tmp, e.db))
	case e.tmp != "" && e.phase == swapMovingIn:
		out = append(out, fmt.Sprintf("%s.%s is a restored copy if it still exists: drop it (the next restore into %s does)", e.db, e.tmp, e.db))
	}
	if e.created || (e.newView != nil && !e.replaces() && e.phase >= swapMovingIn) {
		out = append(out, fmt.Sprintf("%s did not exist before this restore: drop it", e.ns()))
	}
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
