package chstore

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

func TestIntegrationScanEvents(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(tenant, id, profile string, at time.Time, ids ...event.Identifier) event.Resolved {
		return event.Resolved{ProfileID: profile, Event: &event.Event{
			EventID: id, Tenant: tenant, Channel: "web", Type: event.TypeTrack, Name: "Viewed " + id,
			EventTime: at, ReceivedAt: at.Add(time.Second), Identifiers: ids,
			Traits:     map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`), "n": json.RawMessage(`{"a":1}`)},
			Properties: json.RawMessage(`{"x":1}`),
		}}
	}
	email := event.Identifier{Type: "email", Value: "jane@example.com"}
	anon := event.Identifier{Type: "anonymous_id", Value: "a-1"}
	rows := []event.Resolved{
		// Inserted out of order, under several profiles: the scan orders
		// by event time in ms, then event id, and ignores the profile.
		mk("t1", "e3", "P2", base.Add(2*time.Millisecond), email),
		mk("t1", "e2", "P1", base.Add(time.Millisecond), email, anon),
		mk("t1", "e1b", "P1", base.Add(time.Millisecond), anon),
		mk("t1", "e0", "P9", base.Add(-time.Hour), anon),
		mk("t2", "e1", "P1", base, email), // another tenant
	}
	rows[3].Traits = nil
	if err := s.InsertEvents(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// A redelivery, and a replay that recorded another profile: the same
	// events, other parts.
	if err := s.InsertEvents(ctx, rows[:2]); err != nil {
		t.Fatal(err)
	}
	replayed := rows[1]
	replayed.ProfileID = "P7"
	if err := s.InsertEvents(ctx, []event.Resolved{replayed}); err != nil {
		t.Fatal(err)
	}

	var got []*event.Event
	n, err := s.ScanEvents(ctx, "t1", func(e *event.Event) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{"e0", "e1b", "e2", "e3"}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.EventID)
	}
	if n != len(wantIDs) || !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("scanned %d events %v, want %v", n, ids, wantIDs)
	}
	want := *rows[1].Event
	// received_at is stored in whole seconds.
	want.EventTime, want.ReceivedAt = want.EventTime.UTC(), want.ReceivedAt.UTC().Truncate(time.Second)
	if !reflect.DeepEqual(*got[2], want) {
		t.Errorf("event e2:\n got %+v\nwant %+v", *got[2], want)
	}
	if got[0].Traits != nil {
		t.Errorf("event without traits came back with %v", got[0].Traits)
	}

	stop := errors.New("stop")
	n, err = s.ScanEvents(ctx, "t1", func(e *event.Event) error {
		if e.EventID == "e1b" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("scan stopped by the callback: n=%d err=%v, want 1 and the callback's error", n, err)
	}
	if n, err := s.ScanEvents(ctx, "nobody", func(*event.Event) error { return nil }); err != nil || n != 0 {
		t.Errorf("scan of a tenant without events: n=%d err=%v", n, err)
	}
}

// envelopeEvents are events that between them use every field of the
// envelope a profile folds: an order with products, currency and session id
// in its properties; a refund; a survey answer with NPS, CSAT and feedback
// text; context with locale, location, consent and session id; and every
// trait operation, preferences and consent among the traits. Their JSON is
// compact, as the resolver writes it to cx.timeline.
func envelopeEvents(t *testing.T, tenant string) []*event.Event {
	t.Helper()
	// Nanoseconds: cx_events keeps event time to the millisecond, which is
	// all a profile uses (profile.Stamp).
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	ids := []event.Identifier{{Type: "email", Value: "jane@example.com"}, {Type: "anonymous_id", Value: "a-1"}}
	events := []*event.Event{
		{EventID: "order", Channel: "web", Type: event.TypeTrack, Name: "Order Completed",
			Properties: json.RawMessage(`{"order_id":"o-1","revenue":"38.50","currency":"eur","session_id":"s-9",` +
				`"products":[{"sku":"a","quantity":2},{"sku":"b"}],"note":"<b>&"}`),
			Context:       json.RawMessage(`{"locale":"de-DE","location":{"country":"DE","city":"Köln"},"ip":"203.0.113.1"}`),
			Traits:        map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`), "nickname": json.RawMessage(`null`)},
			TraitsSetOnce: map[string]json.RawMessage{"first_channel": json.RawMessage(`"web"`), "signup": json.RawMessage(`{"at":"2026-03-01","ref":[1,2]}`)},
		},
		{EventID: "refund", Channel: "store", Type: event.TypeTrack, Name: "Order Refunded",
			Properties:      json.RawMessage(`{"total":12,"currency":"EUR"}`),
			TraitsUnset:     []string{"coupon", "old_plan"},
			TraitsIncrement: map[string]json.Number{"points": "-2", "visits": "1.50", "big": "1e3"},
		},
		{EventID: "survey", Channel: "survey", Type: event.TypeTrack, Name: "Survey Answered",
			Properties: json.RawMessage(`{"nps":9,"csat":4.5,"feedback":"Wunderbar, sehr schnell geliefert!"}`),
			Context:    json.RawMessage(`{"sessionId":"s-10","consent":{"categoryPreferences":{"marketing":false,"analytics":true}}}`),
		},
		{EventID: "identify", Channel: "mobile", Type: event.TypeIdentify,
			Traits: map[string]json.RawMessage{"name": json.RawMessage(`"Jane Doe"`),
				"preferences": json.RawMessage(`{"newsletter":"weekly"}`), "consent": json.RawMessage(`{"marketing":true}`)},
			TraitsIncrement: map[string]json.Number{"logins": "1"},
		},
	}
	for i, e := range events {
		e.Tenant, e.Identifiers = tenant, slices.Clone(ids)
		e.EventTime = at.Add(time.Duration(i) * time.Minute)
		e.ReceivedAt = e.EventTime.Add(1500 * time.Millisecond)
		if err := event.Prepare(e, event.DefaultLimits()); err != nil {
			t.Fatalf("event %s: %v", e.EventID, err)
		}
	}
	return events
}

// Every field of the envelope that the profile fold reads survives an insert
// and ScanEvents: the scanned event equals the inserted one (times as
// cx_events keeps them), and it folds into exactly the same profile
// updates.
func TestIntegrationScanEventsKeepsTheEnvelope(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	events := envelopeEvents(t, "t1")
	var rows []event.Resolved
	for _, e := range events {
		rows = append(rows, event.Resolved{ProfileID: "P1", Event: e})
	}
	if err := s.InsertEvents(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, s, "t1", len(events))
	model := profile.Default()
	for i, e := range events {
		want := *e
		want.EventTime = e.EventTime.Truncate(time.Millisecond)
		want.ReceivedAt = e.ReceivedAt.Truncate(time.Second)
		if !reflect.DeepEqual(*got[i], want) {
			g, _ := json.Marshal(got[i])
			w, _ := json.Marshal(want)
			t.Errorf("event %s came back otherwise:\n got %s\nwant %s", e.EventID, g, w)
		}
		if u, w := model.Updates(got[i]), model.Updates(e); !reflect.DeepEqual(u, w) {
			t.Errorf("event %s folds otherwise after the round trip:\n got %v\nwant %v", e.EventID, u, w)
		}
	}
	// The test must be able to fail: the fold does read what was once left
	// out of the scan.
	for _, e := range got {
		bare := *e
		bare.Properties, bare.Context, bare.TraitsSetOnce, bare.TraitsUnset, bare.TraitsIncrement = nil, nil, nil, nil, nil
		if reflect.DeepEqual(model.Updates(&bare), model.Updates(e)) {
			t.Errorf("event %s folds the same without properties, context and trait operations: it tests nothing", e.EventID)
		}
	}
}

func TestIntegrationCuts(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cut := func(tenant, id string, partners ...string) identity.Record {
		return identity.Record{Kind: identity.KindCut, Tenant: tenant, ProfileID: "P", FromProfileID: "P",
			Identifier: id, Identifiers: partners, Rule: "unmerge", EventID: "unmerge-" + id, At: at}
	}
	recs := []identity.Record{
		cut("t1", "email:a@x.test", "user_id:u1", "anonymous_id:a1"),
		cut("t1", "user_id:u1", "phone:+4915112345678"),
		cut("t2", "email:b@x.test", "user_id:u9"),
		// Other kinds name identifiers too; they are no cuts.
		{Kind: identity.KindBlocked, Tenant: "t1", ProfileID: "P", Identifier: "email:c@x.test",
			Identifiers: []string{"user_id:u2", "email:c@x.test"}, Rule: "limit:email", EventID: "e1", At: at},
	}
	if err := s.InsertIdentity(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertIdentity(ctx, recs[:1]); err != nil { // redelivered
		t.Fatal(err)
	}
	got, err := s.Cuts(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"email:a@x.test":       {"anonymous_id:a1", "user_id:u1"},
		"anonymous_id:a1":      {"email:a@x.test"},
		"user_id:u1":           {"email:a@x.test", "phone:+4915112345678"},
		"phone:+4915112345678": {"user_id:u1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cuts of t1:\n got %v\nwant %v", got, want)
	}
	if got, err := s.Cuts(ctx, "t3"); err != nil || len(got) != 0 {
		t.Errorf("cuts of a tenant without any: %v %v", got, err)
	}
}

// scanAll returns every event ScanEvents yields for tenant, failing the
// test unless there are want of them.
func scanAll(t *testing.T, s *Store, tenant string, want int) []*event.Event {
	t.Helper()
	var got []*event.Event
	if _, err := s.ScanEvents(context.Background(), tenant, func(e *event.Event) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("scanned %d events, want %d", len(got), want)
	}
	return got
}
