package catalog

import (
	"time"

	"github.com/mongostash/mongostash/storage"
)

// In a versioned bucket (which S3 Object Lock requires) deleting a key only adds a delete
// marker: the data stays, billed, as a noncurrent version. PlanVersionPurge decides which
// of those versions may go for good.

// VersionDecision is what PlanVersionPurge decided for one version of one of the tool's
// keys.
type VersionDecision struct {
	storage.Version
	Delete bool
	Reason string
}

// PurgeCandidates are the noncurrent versions (delete markers aside) of the tool's keys
// under prefix: those whose locks PlanVersionPurge needs.
func PurgeCandidates(prefix string, versions []storage.Version) []ObjectRef {
	var refs []ObjectRef
	for _, v := range versions {
		if !v.Latest && !v.DeleteMarker && Owns(prefix, v.Key) {
			refs = append(refs, ObjectRef{Key: v.Key, VersionID: v.VersionID})
		}
	}
	return refs
}

// PlanVersionPurge decides, for the versions of the tool's keys under prefix (Owns), which
// to delete for good: every noncurrent version whose lock (from locks, read for
// PurgeCandidates) is not in force at now, every noncurrent delete marker, and the delete
// marker that hides a key once no version under it remains. A current object is never
// touched, and neither is a delete marker over a version that stays: removing it would make
// a pruned backup reappear. Versions of other keys are left out of the plan.
func PlanVersionPurge(prefix string, versions []storage.Version, locks map[ObjectRef]storage.Lock, now time.Time) []VersionDecision {
	var plan []VersionDecision
	keeps := map[string]bool{} // keys with a version that stays
	for _, v := range versions {
		if !Owns(prefix, v.Key) || (v.Latest && !v.DeleteMarker) {
			continue
		}
		d := VersionDecision{Version: v}
		switch l := locks[ObjectRef{Key: v.Key, VersionID: v.VersionID}]; {
		case v.DeleteMarker:
			d.Delete, d.Reason = true, "delete marker" // the latest ones are settled below
		case l.Locked(now):
			d.Reason = "noncurrent, " + lockedReason(l)
			keeps[v.Key] = true
		default:
			d.Delete, d.Reason = true, "noncurrent, not locked"
		}
		plan = append(plan, d)
	}
	for i := range plan {
		if d := &plan[i]; d.DeleteMarker && d.Latest {
			if keeps[d.Key] {
				d.Delete, d.Reason = false, "delete marker over a locked version"
			} else {
				d.Reason = "delete marker with no version left under it"
			}
		}
	}
	return plan
}

func lockedReason(l storage.Lock) string {
	return "locked (" + l.Mode + ") until " + l.Until.UTC().Format(time.RFC3339)
}
