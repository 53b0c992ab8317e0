package trigger

import (
	"reflect"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

func TestFollowUps(t *testing.T) {
	week := Duration(7 * 24 * time.Hour)
	rules := []FollowUpRule{
		{Name: "whitepaper", AfterEvent: "Whitepaper Downloaded", Delay: week, UnlessEvent: "Demo Requested", Purpose: "marketing"},
		{Name: "whitepaper-survey", AfterEvent: "Whitepaper Downloaded", Delay: Duration(24 * time.Hour), Purpose: "research"},
		{Name: "webinar", AfterEvent: "Webinar Attended", Delay: Duration(time.Hour), Purpose: "marketing"},
	}
	dl := track("Whitepaper Downloaded", "web", `{}`)
	got := FollowUpsFor(rules, dl)
	want := []FollowUp{
		{Rule: "whitepaper", SourceEvent: "Whitepaper Downloaded", SourceEventID: dl.EventID, SourceAt: t0, Delay: week,
			UnlessEvent: "Demo Requested"},
		{Rule: "whitepaper-survey", SourceEvent: "Whitepaper Downloaded", SourceEventID: dl.EventID, SourceAt: t0,
			Delay: Duration(24 * time.Hour)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FollowUpsFor = %+v\nwant %+v", got, want)
	}
	if !got[0].Due().Equal(t0.Add(7 * 24 * time.Hour)) {
		t.Errorf("due %s", got[0].Due())
	}
	for _, e := range []*event.Event{track("Demo Requested", "web", `{}`), {Type: event.TypePage, Name: "Whitepaper Downloaded"},
		{Type: event.TypeIdentify}} {
		if f := FollowUpsFor(rules, e); len(f) != 0 {
			t.Errorf("%s %q schedules %+v", e.Type, e.Name, f)
		}
	}
	if f := FollowUpsFor(nil, dl); f != nil {
		t.Errorf("no rules schedule %+v", f)
	}

	at := func(e *event.Event, d time.Duration) *event.Event { e.EventTime = t0.Add(d); return e }
	wp := got[0]
	for _, tt := range []struct {
		name   string
		e      *event.Event
		cancel bool
	}{
		{"demo requested after", at(track("Demo Requested", "web", `{}`), 2*24*time.Hour), true},
		{"demo requested at the same time", at(track("Demo Requested", "web", `{}`), 0), true},
		{"demo requested before the download", at(track("Demo Requested", "web", `{}`), -time.Hour), false},
		{"another event", at(track("Pricing Viewed", "web", `{}`), time.Hour), false},
		{"a page of that name", at(&event.Event{Type: event.TypePage, Name: "Demo Requested"}, time.Hour), false},
	} {
		if got := wp.CancelledBy(tt.e); got != tt.cancel {
			t.Errorf("%s: CancelledBy = %v", tt.name, got)
		}
		// The rule's Cancels says the same as a bound on due times.
		bound, ok := rules[0].Cancels(tt.e)
		if got := ok && !wp.Due().After(bound); got != tt.cancel {
			t.Errorf("%s: Cancels = %v, %v: cancels the follow-up %v, want %v", tt.name, bound, ok, got, tt.cancel)
		}
	}
	if got[1].CancelledBy(at(track("Demo Requested", "web", `{}`), time.Hour)) {
		t.Error("a rule without unless_event was cancelled")
	}
	// A rule whose unless_event is its after_event: a repeated download
	// cancels the pending follow-up (the caller schedules the new one),
	// the source event itself does not.
	self := FollowUpsFor([]FollowUpRule{{Name: "again", AfterEvent: "Whitepaper Downloaded", Delay: week,
		UnlessEvent: "Whitepaper Downloaded", Purpose: "marketing"}}, dl)[0]
	if self.CancelledBy(dl) {
		t.Error("the source event cancelled its own follow-up")
	}
	second := at(track("Whitepaper Downloaded", "web", `{}`), time.Hour)
	second.EventID = "e-second"
	if !self.CancelledBy(second) {
		t.Error("a repeated source event did not cancel")
	}

	// At the due time, with the rules then configured.
	if _, ok := wp.Trigger(rules[1:], jane()); ok {
		t.Error("a follow-up whose rule was removed fired")
	}
	tr, ok := got[1].Trigger(rules, jane())
	if !ok || tr.Purpose != "research" || tr.FollowUp.Rule != "whitepaper-survey" ||
		tr.Reason != "follow-up whitepaper-survey: Whitepaper Downloaded at 2026-03-12T18:20:00Z, 24h ago" {
		t.Errorf("trigger %v %+v", ok, tr)
	}
}
