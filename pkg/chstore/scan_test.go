package chstore

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
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
	want.Properties = nil // not read
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
