package trigger

import (
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
)

// FollowUp is one follow-up scheduled by a rule: due Delay after its
// source event unless its UnlessEvent happens first.
type FollowUp struct {
	Rule          string    `json:"rule"`
	SourceEvent   string    `json:"source_event"`
	SourceEventID string    `json:"source_event_id"`
	SourceAt      time.Time `json:"source_at"`
	Delay         Duration  `json:"delay"`
	UnlessEvent   string    `json:"unless_event,omitempty"`
}

// FollowUpsFor returns the follow-ups that e schedules: one for each rule
// whose AfterEvent names e (a track event), in the order of the rules.
func FollowUpsFor(rules []FollowUpRule, e *event.Event) []FollowUp {
	if e.Type != event.TypeTrack {
		return nil
	}
	var out []FollowUp
	for _, r := range rules {
		if r.AfterEvent == e.Name {
			out = append(out, FollowUp{Rule: r.Name, SourceEvent: e.Name, SourceEventID: e.EventID,
				SourceAt: e.EventTime.UTC().Truncate(time.Millisecond), Delay: r.Delay, UnlessEvent: r.UnlessEvent})
		}
	}
	return out
}

// Due is when the follow-up fires.
func (f FollowUp) Due() time.Time { return f.SourceAt.Add(time.Duration(f.Delay)) }

// CancelledBy reports whether e cancels the follow-up (FollowUpRule.Cancels
// states the same as a bound on due times): a track event named
// UnlessEvent, at or after the source event, other than the source event.
// (One that comes after the follow-up was due arrives too late to cancel
// it; the caller only asks while the follow-up is pending.)
func (f FollowUp) CancelledBy(e *event.Event) bool {
	return f.UnlessEvent != "" && e.Type == event.TypeTrack && e.Name == f.UnlessEvent &&
		e.EventID != f.SourceEventID && !e.EventTime.Before(f.SourceAt)
}

// Trigger returns the follow_up trigger of f about p, at its due time,
// with the purpose of its rule in rules; its key is the rule and the
// source event's id. A follow-up whose rule is no longer configured does
// not fire: ok is false.
func (f FollowUp) Trigger(rules []FollowUpRule, p *profile.Profile) (t *Trigger, ok bool) {
	for _, r := range rules {
		if r.Name != f.Rule {
			continue
		}
		reason := "follow-up " + f.Rule + ": " + f.SourceEvent + " at " + f.SourceAt.UTC().Format(time.RFC3339) +
			", " + f.Delay.String() + " ago"
		if f.UnlessEvent != "" {
			reason += ", and no " + f.UnlessEvent + " since"
		}
		t = New(TypeFollowUp, string(TypeFollowUp)+"/"+f.Rule+"/"+f.SourceEventID, p, f.Due(), reason, r.Purpose)
		t.FollowUp = &f
		return t, true
	}
	return nil, false
}

// Cancels reports whether e is the rule's cancelling event, and if so the
// latest due time of the rule's follow-ups it cancels: those whose source
// event was at or before e (CancelledBy), as their due is the source time
// plus Delay. It cannot tell e from a follow-up's own source event (a rule
// whose UnlessEvent is its AfterEvent): the caller cancels before it
// schedules e's own follow-up.
func (r FollowUpRule) Cancels(e *event.Event) (dueAtMost time.Time, ok bool) {
	if r.UnlessEvent == "" || e.Type != event.TypeTrack || e.Name != r.UnlessEvent {
		return time.Time{}, false
	}
	return e.EventTime.Add(time.Duration(r.Delay)), true
}
