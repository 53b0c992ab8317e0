package trigger

import (
	"strconv"
	"time"

	"github.com/cxstream/cxstream/pkg/profile"
)

// Trigger returns the segment.entered (entered) or segment.exited trigger
// of s about p, for purpose ("" for none), at the as-of time of the
// evaluation that saw the change. Its key is the type, profile, segment,
// profile version and rev: re-evaluating the same state gives the same id.
// rev is 0 for an evaluation after a profile change, and r for the r-th
// time-driven re-evaluation of one version that changed something (a
// segment left and entered again as time passes, at one version).
func (s SegmentChange) Trigger(p *profile.Profile, entered bool, purpose string, at time.Time, rev int) *Trigger {
	typ, verb := TypeSegmentExited, "left"
	if entered {
		typ, verb = TypeSegmentEntered, "entered"
	}
	reason := verb + " segment " + s.Name
	if s.Description != "" {
		reason += ": " + s.Description
	}
	if s.MergedInto != "" {
		reason += " (profile merged into " + s.MergedInto + ")"
	}
	key := string(typ) + "/" + p.ProfileID + "/" + s.Name + "/" + versionKey(p.Version, rev)
	t := New(typ, key, p, at, reason, purpose)
	t.Segment = &s
	return t
}

// Trigger returns the lifecycle.changed trigger of l about p, at the
// as-of time of the state that showed l.To; ok is false if the rule is
// off or the stage did not change. Its key is the profile, both stages,
// the profile version and rev (see SegmentChange.Trigger).
func (l LifecycleChange) Trigger(cfg LifecycleConfig, p *profile.Profile, at time.Time, rev int) (t *Trigger, ok bool) {
	if !cfg.Enabled || l.From == l.To {
		return nil, false
	}
	from := l.From
	if from == "" {
		from = "none"
	}
	reason := "lifecycle changed: " + from + " -> " + l.To
	key := string(TypeLifecycleChanged) + "/" + p.ProfileID + "/" + l.From + "/" + l.To + "/" +
		versionKey(p.Version, rev)
	t = New(TypeLifecycleChanged, key, p, at, reason, cfg.Purpose)
	t.Lifecycle = &l
	return t, true
}

// versionKey is a profile version in a trigger key, with ".<rev>" for the
// rev-th re-evaluation of that version.
func versionKey(version int64, rev int) string {
	k := strconv.FormatInt(version, 10)
	if rev > 0 {
		k += "." + strconv.Itoa(rev)
	}
	return k
}
