package dump

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// swapEntry is one target of a restore with Drop: what replaces what, and how far it got.
// The journal of entries is what a rollback undoes, and what it describes when the server
// cannot be reached to undo it.
type swapEntry struct {
	db, name   string   // the target collection or view
	tmp        string   // the restored copy to rename in; "" when written in place or a view
	aside      string   // where the existing collection goes; "" when there is none
	oldView    bson.Raw // the existing view's listCollections answer; nil when not a view
	newView    *target  // the view to create; nil for a collection
	created    bool     // the target did not exist and this restore wrote it in place
	gone       bool     // the oplog replay dropped tmp: the collection was dropped during the backup
	timeseries bool     // created in place as a time-series collection (buckets to drop too)
	phase      swapPhase
}

// swapPhase is how far one entry's swap got. "…ing" phases mean the command was sent and
// its outcome is not known (a lost answer): the rollback then looks at what is there.
type swapPhase int

const (
	swapNotStarted swapPhase = iota
	swapMovingAside
	swapMovedAside // the existing collection is under aside (an existing view: dropped)
	swapMovingIn
	swapMovedIn // the restored copy (or the new view) is in place
)

func (e *swapEntry) ns() string { return e.db + "." + e.name }

// replaces reports an entry that takes the place of something that existed.
func (e *swapEntry) replaces() bool { return e.aside != "" || e.oldView != nil }

// swapJournal builds, once, the entries of every namespace this restore touched, sorted.
func (rs *restorer) swapJournal() []*swapEntry {
	if rs.swaps != nil {
		return rs.swaps
	}
	var out []*swapEntry
	for _, st := range rs.sortedStates() {
		t := st.t
		if !t.isCollection() {
			continue
		}
		e := &swapEntry{db: t.db, name: t.coll}
		ex, existed := rs.existingInfo[t.namespace()]
		existed = existed && rs.existing[t.namespace()]
		switch {
		case t.kind == kindView:
			e.newView = t
		case st.coll != t.coll:
			e.tmp, e.gone = st.coll, st.gone
		default:
			e.created = st.created
			e.timeseries = t.kind == kindTimeseries
		}
		if existed && (e.tmp != "" || e.newView != nil) {
			if ex.view {
				e.oldView = ex.info
			} else {
				e.aside = asideName(t.db, t.coll)
			}
		}
		out = append(out, e)
	}
	rs.swaps = out
	return out
}

// swapAll puts every restored collection in place, once the whole archive proved good:
// an existing collection is renamed aside, then its restored copy renamed in; an existing
// view is dropped and the new one created. Nothing is dropped for good until commit, so
// that any failure, cancellation included, can be rolled back. Cancellation is checked
// between steps; a step once sent is never abandoned halfway.
func (rs *restorer) swapAll(ctx context.Context) error {
	for _, e := range rs.swapJournal() {
		if e.tmp == "" && e.newView == nil {
			continue // written in place: nothing to swap
		}
		if err := rs.makeRoom(ctx, e); err != nil {
			return err
		}
		if err := rs.moveIn(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// makeRoom moves the existing target out of the way.
func (rs *restorer) makeRoom(ctx context.Context, e *swapEntry) error {
	switch {
	case e.aside != "":
		e.phase = swapMovingAside
		if err := rs.swapStep(ctx, "move "+e.ns()+" aside to "+e.aside, func(wctx context.Context) error {
			return rs.renameCollection(wctx, e.db, e.name, e.aside)
		}); err != nil {
			return err
		}
	case e.oldView != nil:
		e.phase = swapMovingAside
		if err := rs.swapStep(ctx, "drop the existing view "+e.ns(), func(wctx context.Context) error {
			return rs.client.Database(e.db).Collection(e.name).Drop(wctx)
		}); err != nil {
			return err
		}
	}
	e.phase = swapMovedAside
	return nil
}

// moveIn renames the restored copy onto the target, or creates the new view.
func (rs *restorer) moveIn(ctx context.Context, e *swapEntry) error {
	e.phase = swapMovingIn
	var err error
	switch {
	case e.gone:
		// Nothing to move in: the backup's state has no such collection. The existing one
		// is aside, dropped at commit like any replaced collection.
	case e.newView != nil:
		err = rs.swapStep(ctx, "create the view "+e.ns(), func(wctx context.Context) error {
			return rs.client.Database(e.db).RunCommand(wctx, createCommand(e.name, e.newView.meta)).Err()
		})
	default:
		err = rs.swapStep(ctx, "rename "+e.db+"."+e.tmp+" to "+e.ns(), func(wctx context.Context) error {
			return rs.renameCollection(wctx, e.db, e.tmp, e.name)
		})
	}
	if err != nil {
		return err
	}
	e.phase = swapMovedIn
	return nil
}

// swapStep runs one step of the swap unless the restore was cancelled before it; the step
// itself runs to its end (writeContext).
func (rs *restorer) swapStep(ctx context.Context, what string, step func(context.Context) error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("cancelled during the swap, before the step %q: %w", what, context.Cause(ctx))
	}
	rs.steps++
	wctx, cancel := writeContext(ctx)
	defer cancel()
	run := func() error { return step(wctx) }
	var err error
	if hook := rs.opts.swapHook; hook != nil {
		err = hook(rs.steps, what, run)
	} else {
		err = run()
	}
	if err != nil {
		return fmt.Errorf("restore: %s: %w", what, err)
	}
	return nil
}

// commit drops what the swap moved aside, once everything else succeeded. The restore has
// succeeded by then: a failure here leaves a copy of the replaced data, which is reported.
func (rs *restorer) commit(ctx context.Context) {
	for _, e := range rs.swapJournal() {
		if e.aside == "" || e.phase != swapMovedIn {
			continue
		}
		wctx, cancel := writeContext(ctx)
		err := rs.client.Database(e.db).Collection(e.aside).Drop(wctx)
		cancel()
		if err != nil {
			rs.log.Warn("the restore succeeded, but the replaced data could not be dropped: drop it by hand",
				"namespace", e.db+"."+e.aside, "replaced", e.ns(), "error", err)
		}
	}
}
