package trigger

import (
	"strconv"
	"time"

	"github.com/cxstream/cxstream/pkg/profile"
)

// Trigger returns the segment.entered (entered) or segment.exited trigger
// of s about p, for purpose ("" for none), at the as-of time of the
// evaluation that saw the change. Its key is the type, profile, segment
// and profile version: re-evaluating the same state gives the same id.
func (s SegmentChange) Trigger(p *profile.Profile, entered bool, purpose string, at time.Time) *Trigger {
	typ, verb := TypeSegmentExited, "left"
	if entered {
		typ, verb = TypeSegmentEntered, "entered"
	}
	reason := verb + " segment " + s.Name
	if s.Description != "" {
		reason += ": " + s.Description
	}
	key := string(typ) + "/" + p.ProfileID + "/" + s.Name + "/" + strconv.FormatInt(p.Version, 10)
	t := New(typ, key, p, at, reason, purpose)
	t.Segment = &s
	return t
}

// Trigger returns the lifecycle.changed trigger of l about p, at the
// as-of time of the state that showed l.To; ok is false if the rule is
// off or the stage did not change. Its key is the profile, both stages and
// the profile version.
func (l LifecycleChange) Trigger(cfg LifecycleConfig, p *profile.Profile, at time.Time) (t *Trigger, ok bool) {
	if !cfg.Enabled || l.From == l.To {
		return nil, false
	}
	from := l.From
	if from == "" {
		from = "none"
	}
	reason := "lifecycle changed: " + from + " -> " + l.To
	key := string(TypeLifecycleChanged) + "/" + p.ProfileID + "/" + l.From + "/" + l.To + "/" +
		strconv.FormatInt(p.Version, 10)
	t = New(TypeLifecycleChanged, key, p, at, reason, cfg.Purpose)
	t.Lifecycle = &l
	return t, true
}
