package oplog

import (
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrRefused: the oplog range holds an entry a consistent capture cannot include.
var ErrRefused = errors.New("oplog: capture refused")

// Selector decides which captured entries a backup keeps, and refuses the ones a
// consistent backup cannot hold (as mongodump does): a rename, a change of
// admin.system.version (the auth schema and feature compatibility version), an
// importCollection, a resharding, a time-series format conversion.
type Selector struct {
	all        bool
	namespaces func(string) bool
	databases  map[string]bool
}

// NewSelector returns the selector of a capture's options.
func NewSelector(opts CaptureOptions) *Selector {
	s := &Selector{namespaces: opts.Namespaces}
	if len(opts.Databases) > 0 {
		s.databases = map[string]bool{}
		for _, db := range opts.Databases {
			s.databases[db] = true
		}
	}
	s.all = s.namespaces == nil && s.databases == nil
	return s
}

func (s *Selector) nsSelected(ns string) bool {
	db, _ := splitNS(ns)
	if s.databases != nil && !s.databases[db] {
		return false
	}
	return s.namespaces == nil || s.namespaces(ns)
}

func (s *Selector) dbSelected(db string) bool { return s.databases == nil || s.databases[db] }

// Keep returns the entry to write (the same bytes, or an applyOps entry without the
// operations on namespaces left out) and whether to write it.
func (s *Selector) Keep(raw bson.Raw) (bson.Raw, bool, error) {
	e, err := parseEntry(raw)
	if err != nil {
		return nil, false, err
	}
	if err := s.refuse(&e); err != nil {
		return nil, false, err
	}
	if s.all {
		return raw, true, nil
	}
	switch e.Op {
	case "i", "u", "d":
		return raw, s.nsSelected(e.NS), nil
	case "c":
		return s.keepCommand(&e)
	}
	return nil, false, nil // no-ops and internal entries carry nothing of the selection
}

func (s *Selector) keepCommand(e *entry) (bson.Raw, bool, error) {
	switch e.Command() {
	case "applyOps":
		out, kept, err := s.filterApplyOps(e)
		if err != nil {
			return nil, false, err
		}
		// A transaction's entries stay, even emptied, so that its chain is whole.
		return out, kept > 0 || e.IsTransaction(), nil
	case "commitTransaction", "abortTransaction":
		return e.Raw, e.IsTransaction(), nil
	}
	return e.Raw, s.dbSelected(e.DB()), nil
}

// filterApplyOps rebuilds an applyOps entry with the operations of selected namespaces.
func (s *Selector) filterApplyOps(e *entry) (bson.Raw, int, error) {
	ops, err := innerOps(e)
	if err != nil {
		return nil, 0, err
	}
	arr, start := beginDoc(nil)
	kept := 0
	for _, doc := range ops {
		inner, err := parseEntry(doc)
		if err != nil {
			return nil, 0, err
		}
		if !s.innerSelected(&inner) {
			continue
		}
		arr = appendValue(arr, arrayKey(kept), bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc})
		kept++
	}
	arr = endDoc(arr, start)
	if kept == len(ops) {
		return e.Raw, kept, nil
	}
	o := replaceField(e.O, "applyOps", bson.RawValue{Type: bson.TypeArray, Value: arr})
	return replaceField(e.Raw, "o", bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: o}), kept, nil
}

func (s *Selector) innerSelected(e *entry) bool {
	if e.Op == "c" {
		return s.dbSelected(e.DB())
	}
	return s.nsSelected(e.NS)
}

// reshardingCollections are the config collections whose creation means a resharding
// started (the ones mongodump refuses).
var reshardingCollections = map[string]bool{
	"reshardingOperations": true, "localReshardingOperations.donor": true, "localReshardingOperations.recipient": true,
}

// replaceField returns doc with the value of key replaced, in place.
func replaceField(doc bson.Raw, key string, v bson.RawValue) bson.Raw {
	out, start := beginDoc(make([]byte, 0, len(doc)+len(v.Value)))
	for _, el := range mustElements(doc) {
		if el.Key() == key {
			out = appendValue(out, key, v)
			continue
		}
		out = append(out, el...)
	}
	return endDoc(out, start)
}

// refuse fails on an entry that a consistent backup cannot hold, looking into applyOps.
func (s *Selector) refuse(e *entry) error {
	if err := s.refuseOne(e); err != nil {
		return err
	}
	if e.Command() != "applyOps" {
		return nil
	}
	return eachInnerOp(e, s.refuseOne)
}

func (s *Selector) refuseOne(e *entry) error {
	if e.NS == "admin.system.version" {
		return fmt.Errorf("%w: admin.system.version (the auth schema or the feature compatibility version) changed during the backup, at %s; run the backup again once that change is done", ErrRefused, e.TS.String())
	}
	if e.Op != "c" {
		return nil
	}
	switch e.Command() {
	case "renameCollection":
		from, _ := e.O.Lookup("renameCollection").StringValueOK()
		to, _ := e.O.Lookup("to").StringValueOK()
		if s.all || s.nsSelected(from) || s.nsSelected(to) {
			return fmt.Errorf("%w: %s was renamed to %s during the backup, at %s: a rename cannot be part of a consistent backup; run the backup again when no rename is running", ErrRefused, from, to, e.TS.String())
		}
	case "importCollection":
		return fmt.Errorf("%w: importCollection ran during the backup, at %s; run the backup again", ErrRefused, e.TS.String())
	case "upgradeDowngradeViewlessTimeseries":
		return fmt.Errorf("%w: a feature compatibility version change converted time-series collections during the backup, at %s; run the backup again", ErrRefused, e.TS.String())
	case "create":
		name, _ := e.O.Lookup("create").StringValueOK()
		if e.DB() == "config" && reshardingCollections[name] {
			return fmt.Errorf("%w: a resharding ran during the backup (config.%s created at %s); run the backup again once it is done", ErrRefused, name, e.TS.String())
		}
	}
	return nil
}
