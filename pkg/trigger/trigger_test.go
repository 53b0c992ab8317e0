package trigger

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
)

var t0 = time.Date(2026, 3, 12, 18, 20, 0, 0, time.UTC)

// jane is a profile with every contact detail.
func jane() *profile.Profile {
	return &profile.Profile{
		ProfileID: "7b0e2f4a-1c3d-5e6f-8a9b-0c1d2e3f4a5b",
		Tenant:    "acme",
		Version:   42,
		AsOf:      t0,
		Identifiers: map[string][]string{
			"email":            {"jane.doe@example.com", "jd@example.org"},
			"phone":            {"+4915112345678"},
			"user_id":          {"cust-1001"},
			"x_handle":         {"janedoe_42"},
			"instagram_handle": {"jane.runs", "jane.doe"},
			"anonymous_id":     {"a-1"},
			"helpdesk_id":      {"90817"},
		},
		Demographic: profile.Demographic{Name: "Jane Doe", Email: "jane.doe@example.com", Phone: "+4915112345678",
			Locale: "de-DE", Country: "DE"},
		Psychographic: profile.Psychographic{Consent: map[string]bool{"marketing": true}},
		Derived:       profile.Derived{Lifecycle: "at_risk"},
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestID(t *testing.T) {
	a := ID("acme", "cart.abandoned/e1")
	if !uuidPattern.MatchString(a) {
		t.Fatalf("ID = %q, want a UUID v5", a)
	}
	if b := ID("acme", "cart.abandoned/e1"); a != b {
		t.Errorf("not deterministic: %s then %s", a, b)
	}
	// Pinned: ids are a contract with consumers that dedupe on them; a
	// change of namespace or name layout would make every republished
	// trigger look new. (Python agrees: uuid.uuid5(namespace, "acme/cart.abandoned/e1").)
	if want := "b3693441-d8f0-51a6-83b8-ff3998dffdb7"; a != want {
		t.Errorf("ID(acme, cart.abandoned/e1) = %s, want %s as before", a, want)
	}
	seen := map[string]string{}
	for _, in := range [][2]string{{"acme", "cart.abandoned/e1"}, {"acme", "cart.abandoned/e2"},
		{"globex", "cart.abandoned/e1"}, {"acme", "follow_up/whitepaper/e1"}, {"acme", ""}, {"", "acme/"}} {
		id := ID(in[0], in[1])
		if prev, ok := seen[id]; ok {
			t.Errorf("%v and %s have the same id", in, prev)
		}
		seen[id] = in[0] + "|" + in[1]
	}
}

func TestTypes(t *testing.T) {
	want := []string{"segment.entered", "segment.exited", "lifecycle.changed", "cart.abandoned", "follow_up",
		"alert.negative_feedback"}
	var got []string
	for _, typ := range Types {
		got = append(got, string(typ))
		if !typ.Known() {
			t.Errorf("%s is not Known", typ)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Types = %q, want %q", got, want)
	}
	if Type("segment.changed").Known() || Type("").Known() {
		t.Error("an unlisted type is Known")
	}
}

func TestHeaders(t *testing.T) {
	tr := New(TypeCartAbandoned, "k", jane(), t0, "r", "marketing")
	got := map[string]string{}
	for _, h := range tr.Headers() {
		got[h.Key] = string(h.Value)
	}
	want := map[string]string{"cx-tenant": "acme", "cx-trigger-type": "cart.abandoned"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headers %v, want %v", got, want)
	}
}

func TestContactOf(t *testing.T) {
	tests := []struct {
		name string
		p    *profile.Profile
		want Contact
	}{
		{"everything", jane(), Contact{Name: "Jane Doe", Email: "jane.doe@example.com", Phone: "+4915112345678",
			UserID: "cust-1001", Locale: "de-DE", Social: map[string][]string{"x_handle": {"janedoe_42"},
				"instagram_handle": {"jane.doe", "jane.runs"}}}},
		{"social only", &profile.Profile{Identifiers: map[string][]string{"tiktok_handle": {"jd"},
			"facebook_id": {"100"}, "linkedin_id": {"jd-1"}, "anonymous_id": {"a"}}},
			Contact{Social: map[string][]string{"tiktok_handle": {"jd"}, "facebook_id": {"100"}, "linkedin_id": {"jd-1"}}}},
		{"anonymous", &profile.Profile{Identifiers: map[string][]string{"anonymous_id": {"a"}, "user_id": {}}}, Contact{}},
		{"nil", nil, Contact{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContactOf(tt.p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// The contact is a copy: changing it leaves the profile alone.
	p := jane()
	c := ContactOf(p)
	c.Social["instagram_handle"][0] = "changed"
	if p.Identifiers["instagram_handle"][0] == "changed" || p.Identifiers["instagram_handle"][1] == "changed" {
		t.Error("ContactOf shares the profile's identifier slices")
	}
	// Empty fields are left out of the JSON.
	b, _ := json.Marshal(Contact{Email: "a@b.c"})
	if string(b) != `{"email":"a@b.c"}` {
		t.Errorf("JSON %s", b)
	}
}

// Each builder fills the common fields from the profile, names the
// occurrence in its key (same input, same id; a different occurrence, a
// different id) and explains itself.
func TestBuilders(t *testing.T) {
	p := jane()
	cfg := Default()
	cart := Cart{CartAt: t0, EventID: "e-cart", EventName: "Product Added", Window: Duration(time.Hour)}
	follow := FollowUp{Rule: "whitepaper", SourceEvent: "Whitepaper Downloaded", SourceEventID: "e-wp", SourceAt: t0,
		Delay: Duration(7 * 24 * time.Hour), UnlessEvent: "Demo Requested"}
	rules := []FollowUpRule{{Name: "whitepaper", AfterEvent: "Whitepaper Downloaded", Delay: follow.Delay,
		UnlessEvent: "Demo Requested", Purpose: "marketing"}}
	nps := 3.0
	alert := &Alert{Channel: "survey", EventID: "e-nps", EventName: "Survey Responded", EventAt: t0,
		Signals: []string{SignalNPS}, Score: &nps, Scale: ScaleNPS}
	complaint := &Alert{Channel: "call_center", EventID: "e-ticket", EventName: "Ticket Opened", EventAt: t0,
		Signals: []string{SignalComplaint}, TicketID: "48213", Subject: "Shoes arrived damaged"}

	build := map[string]func(p *profile.Profile) *Trigger{
		"segment.entered": func(p *profile.Profile) *Trigger {
			return SegmentChange{Name: "vip_at_risk", Description: "derived.lifecycle = at_risk and transactional.orders >= 5"}.
				Trigger(p, true, "marketing", p.AsOf, 0)
		},
		"segment.exited": func(p *profile.Profile) *Trigger {
			return SegmentChange{Name: "vip_at_risk"}.Trigger(p, false, "", p.AsOf, 0)
		},
		"lifecycle.changed": func(p *profile.Profile) *Trigger {
			tr, _ := LifecycleChange{From: "active", To: "at_risk"}.Trigger(cfg.Lifecycle, p, p.AsOf, 0)
			return tr
		},
		"cart.abandoned": func(p *profile.Profile) *Trigger { return cart.Trigger(cfg.Cart, p) },
		"follow_up": func(p *profile.Profile) *Trigger {
			tr, _ := follow.Trigger(rules, p)
			return tr
		},
		"alert.negative_feedback": func(p *profile.Profile) *Trigger { return alert.Trigger(cfg.NegativeFeedback, p) },
		"complaint":               func(p *profile.Profile) *Trigger { return complaint.Trigger(cfg.NegativeFeedback, p) },
	}
	want := map[string]struct {
		typ     Type
		at      time.Time
		purpose string
		reason  string
		key     string
	}{
		"segment.entered": {TypeSegmentEntered, t0, "marketing",
			"entered segment vip_at_risk: derived.lifecycle = at_risk and transactional.orders >= 5",
			"segment.entered/" + p.ProfileID + "/vip_at_risk/42"},
		"segment.exited": {TypeSegmentExited, t0, "", "left segment vip_at_risk",
			"segment.exited/" + p.ProfileID + "/vip_at_risk/42"},
		"lifecycle.changed": {TypeLifecycleChanged, t0, "", "lifecycle changed: active -> at_risk",
			"lifecycle.changed/" + p.ProfileID + "/active/at_risk/42"},
		"cart.abandoned": {TypeCartAbandoned, t0.Add(time.Hour), "marketing",
			"cart abandoned: Product Added at 2026-03-12T18:20:00Z and no order within 1h", "cart.abandoned/e-cart"},
		"follow_up": {TypeFollowUp, t0.Add(7 * 24 * time.Hour), "marketing",
			"follow-up whitepaper: Whitepaper Downloaded at 2026-03-12T18:20:00Z, 168h ago, and no Demo Requested since",
			"follow_up/whitepaper/e-wp"},
		"alert.negative_feedback": {TypeNegativeFeedback, t0, "service",
			"negative feedback: NPS 3 <= 6 (Survey Responded on survey)", "alert.negative_feedback/event/e-nps"},
		"complaint": {TypeNegativeFeedback, t0, "service",
			"negative feedback: complaint ticket 48213 (Ticket Opened on call_center)",
			"alert.negative_feedback/ticket/48213"},
	}
	for name, b := range build {
		t.Run(name, func(t *testing.T) {
			tr := b(p)
			w := want[name]
			if tr == nil {
				t.Fatal("no trigger")
			}
			if tr.Type != w.typ || !tr.At.Equal(w.at) || tr.Purpose != w.purpose || tr.Reason != w.reason {
				t.Errorf("got %s at %s purpose %q reason %q\nwant %s at %s purpose %q reason %q",
					tr.Type, tr.At, tr.Purpose, tr.Reason, w.typ, w.at, w.purpose, w.reason)
			}
			if tr.TriggerID != ID("acme", w.key) {
				t.Errorf("id %s is not ID(acme, %q)", tr.TriggerID, w.key)
			}
			if tr.Tenant != "acme" || tr.ProfileID != p.ProfileID || tr.ProfileVersion != 42 ||
				!reflect.DeepEqual(tr.Contact, ContactOf(p)) {
				t.Errorf("common fields %+v", tr)
			}
			if n := details(tr); n != 1 {
				t.Errorf("%d type-specific fields set, want 1", n)
			}
			// A later state of the profile: the event-based triggers keep
			// their id, the state-based ones (segment, lifecycle) name
			// the new version.
			later := jane()
			later.Version = 43
			again := b(later)
			stateBased := strings.HasPrefix(name, "segment") || strings.HasPrefix(name, "lifecycle")
			if (again.TriggerID != tr.TriggerID) != stateBased {
				t.Errorf("id at version 43 %s, at 42 %s", again.TriggerID, tr.TriggerID)
			}
			if again := b(p); !reflect.DeepEqual(again, tr) {
				t.Errorf("not deterministic:\n%+v\n%+v", tr, again)
			}
		})
	}
}

// details counts the type-specific fields set.
func details(tr *Trigger) int {
	n := 0
	for _, set := range []bool{tr.Segment != nil, tr.Lifecycle != nil, tr.Cart != nil, tr.FollowUp != nil, tr.Alert != nil} {
		if set {
			n++
		}
	}
	return n
}

func TestLifecycleTrigger(t *testing.T) {
	p := jane()
	on := LifecycleConfig{Enabled: true}
	if _, ok := (LifecycleChange{From: "active", To: "active"}).Trigger(on, p, t0, 0); ok {
		t.Error("no change fired")
	}
	if _, ok := (LifecycleChange{From: "active", To: "at_risk"}).Trigger(LifecycleConfig{}, p, t0, 0); ok {
		t.Error("disabled rule fired")
	}
	tr, ok := LifecycleChange{To: "new"}.Trigger(on, p, t0, 0)
	if !ok || tr.Reason != "lifecycle changed: none -> new" {
		t.Errorf("first stage: %v %+v", ok, tr)
	}
	// Two changes at one version (time alone moved the profile on): two ids.
	a, _ := LifecycleChange{From: "active", To: "at_risk"}.Trigger(on, p, t0, 0)
	b, _ := LifecycleChange{From: "at_risk", To: "churned"}.Trigger(on, p, t0.Add(60*24*time.Hour), 0)
	if a.TriggerID == b.TriggerID {
		t.Error("two changes at one version share an id")
	}
}

func TestTriggerJSON(t *testing.T) {
	tr := (&Cart{CartAt: t0, EventID: "e1", EventName: "Product Added", Window: Duration(time.Hour)}).Trigger(Default().Cart, jane())
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if string(m["at"]) != `"2026-03-12T19:20:00Z"` || string(m["cart"]) == "" || m["alert"] != nil {
		t.Errorf("JSON %s", b)
	}
	var cart Cart
	if err := json.Unmarshal(m["cart"], &cart); err != nil || cart.Window != Duration(time.Hour) {
		t.Errorf("cart %s decodes to %+v, %v", m["cart"], cart, err)
	}
	if !strings.Contains(string(m["cart"]), `"window":"1h"`) {
		t.Errorf("cart %s: want window \"1h\"", m["cart"])
	}
	var back Trigger
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, tr) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, *tr)
	}
}

// An event as the channel mappings write them.
func track(name, channel, props string) *event.Event {
	return &event.Event{EventID: "e-" + strings.ReplaceAll(strings.ToLower(name), " ", "-"), Tenant: "acme",
		Channel: channel, Type: event.TypeTrack, Name: name, EventTime: t0, Properties: json.RawMessage(props)}
}

// TestChangeKeys pins how a profile change's trigger ids name the
// occurrence: the same state gives the same id, a re-evaluation (rev) or
// another version a new one, and a merged-away profile's exit says where
// it went.
func TestChangeKeys(t *testing.T) {
	p := jane()
	s := SegmentChange{Name: "vip"}
	base := s.Trigger(p, true, "", t0, 0)
	if again := s.Trigger(p, true, "", t0.Add(time.Hour), 0); again.TriggerID != base.TriggerID {
		t.Errorf("same version and rev, ids %s and %s differ", base.TriggerID, again.TriggerID)
	}
	if want := ID("acme", "segment.entered/"+p.ProfileID+"/vip/42"); base.TriggerID != want {
		t.Errorf("rev 0 id = %s, want the key without a rev (%s)", base.TriggerID, want)
	}
	rev1 := s.Trigger(p, true, "", t0, 1)
	if want := ID("acme", "segment.entered/"+p.ProfileID+"/vip/42.1"); rev1.TriggerID != want {
		t.Errorf("rev 1 id = %s, want %s", rev1.TriggerID, want)
	}
	l0, _ := LifecycleChange{From: "active", To: "at_risk"}.Trigger(LifecycleConfig{Enabled: true}, p, t0, 0)
	l2, _ := LifecycleChange{From: "active", To: "at_risk"}.Trigger(LifecycleConfig{Enabled: true}, p, t0, 2)
	if l0.TriggerID == l2.TriggerID {
		t.Errorf("lifecycle rev 0 and 2 share id %s", l0.TriggerID)
	}
	gone := SegmentChange{Name: "vip", Description: "Top customers", MergedInto: "p-2"}.Trigger(p, false, "", t0, 0)
	if want := "left segment vip: Top customers (profile merged into p-2)"; gone.Reason != want {
		t.Errorf("reason = %q, want %q", gone.Reason, want)
	}
	if gone.Segment.MergedInto != "p-2" {
		t.Errorf("segment = %+v, want merged_into p-2", gone.Segment)
	}
}
