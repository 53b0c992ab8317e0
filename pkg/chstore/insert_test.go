package chstore

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

func TestEncodeEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.FixedZone("CET", 3600))
	r := event.Resolved{ProfileID: "p", Event: &event.Event{
		EventID: "e", Tenant: "t", Channel: "web", Type: event.TypeTrack, Name: "n", EventTime: at,
		Identifiers:     []event.Identifier{{Type: "email", Value: "x@example.com"}, {Type: "phone", Value: "+33600000000"}},
		Traits:          map[string]json.RawMessage{"b": json.RawMessage(`2`), "a": json.RawMessage(`"x"`)},
		Properties:      json.RawMessage(`null`),
		Context:         json.RawMessage(`{"ip":"203.0.113.1"}`),
		TraitsSetOnce:   map[string]json.RawMessage{"z": json.RawMessage(`{"k": [1, 2]}`), "c": json.RawMessage(`"web"`)},
		TraitsUnset:     []string{"old", "older"},
		TraitsIncrement: map[string]json.Number{"visits": "1.50", "points": "-2"},
	}}
	row, err := EncodeEvent(r)
	if err != nil {
		t.Fatal(err)
	}
	if row.EventTime.Location() != time.UTC || row.EventTimeMS != at.UnixMilli() || !row.ReceivedAt.Equal(at) {
		t.Errorf("times: %v %d %v; want UTC, ms, received_at defaulting to event_time", row.EventTime, row.EventTimeMS, row.ReceivedAt)
	}
	if !slices.Equal(row.IDTypes, []string{"email", "phone"}) || !slices.Equal(row.IDValues, []string{"x@example.com", "+33600000000"}) {
		t.Errorf("identifiers: %v %v", row.IDTypes, row.IDValues)
	}
	if row.Traits != `{"a":"x","b":2}` || row.Properties != "" || row.Context != `{"ip":"203.0.113.1"}` {
		t.Errorf("json columns: %q %q %q", row.Traits, row.Properties, row.Context)
	}
	// Trait operations: objects as JSON text (compact, keys sorted, numbers
	// as written), the names as an array.
	if row.TraitsSetOnce != `{"c":"web","z":{"k":[1,2]}}` || row.TraitsIncrement != `{"points":-2,"visits":1.50}` ||
		!slices.Equal(row.TraitsUnset, []string{"old", "older"}) {
		t.Errorf("trait operations: %q %q %q", row.TraitsSetOnce, row.TraitsIncrement, row.TraitsUnset)
	}

	// Without any: the columns' defaults, and an array, never nil.
	r.Traits, r.TraitsSetOnce, r.TraitsUnset, r.TraitsIncrement = map[string]json.RawMessage{}, nil, nil, map[string]json.Number{}
	row, err = EncodeEvent(r)
	if err != nil {
		t.Fatal(err)
	}
	if row.Traits != "" || row.TraitsSetOnce != "" || row.TraitsIncrement != "" || row.TraitsUnset == nil || len(row.TraitsUnset) != 0 {
		t.Errorf("empty trait operations: %q %q %q %#v", row.Traits, row.TraitsSetOnce, row.TraitsIncrement, row.TraitsUnset)
	}
}

func TestCheckEvent(t *testing.T) {
	ok := func() event.Resolved {
		return event.Resolved{ProfileID: "p", Event: &event.Event{EventID: "e", Tenant: "t", EventTime: time.Unix(1, 0)}}
	}
	tests := []struct {
		name    string
		mutate  func(*event.Resolved)
		wantErr string
	}{
		{"valid", func(*event.Resolved) {}, ""},
		{"nil envelope", func(r *event.Resolved) { r.Event = nil }, "event: missing"},
		{"no tenant", func(r *event.Resolved) { r.Tenant = "" }, "tenant: required"},
		{"no event id", func(r *event.Resolved) { r.EventID = "" }, "event_id: required"},
		{"no profile", func(r *event.Resolved) { r.ProfileID = "" }, "profile_id: required"},
		{"zero time", func(r *event.Resolved) { r.EventTime = time.Time{} }, "event_time: required"},
		{"before 1970", func(r *event.Resolved) { r.EventTime = time.Unix(-1, 0) }, "event_time: must lie"},
		{"after 2105", func(r *event.Resolved) { r.EventTime = time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC) }, "event_time: must lie"},
		{"received before 1970", func(r *event.Resolved) { r.ReceivedAt = time.Unix(-5, 0) }, "received_at"},
		{"several on one line", func(r *event.Resolved) { r.Tenant, r.EventID = "", "" }, "tenant: required; event_id: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.mutate(&r)
			err := CheckEvent(r)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckEvent = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckEvent = %v, want %q", err, tt.wantErr)
			}
			if _, err := EncodeEvent(r); err == nil {
				t.Error("EncodeEvent accepted what CheckEvent rejects")
			}
		})
	}
}

func TestCheckRecord(t *testing.T) {
	good := identity.Record{Kind: identity.KindCreated, Tenant: "t", ProfileID: "p", EventID: "e", At: time.Unix(1, 0)}
	if err := CheckRecord(good); err != nil {
		t.Fatalf("CheckRecord(valid) = %v", err)
	}
	if err := CheckRecord(identity.Record{}); err == nil ||
		err.Error() != "tenant: required; kind: required; profile_id: required; at: required" {
		t.Fatalf("CheckRecord(empty) = %v", err)
	}
	for _, kind := range []identity.Kind{identity.KindUnlinked, identity.KindBlocked} {
		r := good
		r.Kind, r.ProfileID, r.FromProfileID, r.Identifier = kind, "", "p", "email:x@example.com"
		if err := CheckRecord(r); err != nil {
			t.Errorf("CheckRecord(%s without profile_id) = %v", kind, err)
		}
	}
	for _, kind := range []identity.Kind{identity.KindCreated, identity.KindLinked, identity.KindMerged, identity.KindMoved} {
		r := good
		r.Kind, r.ProfileID = kind, ""
		if err := CheckRecord(r); err == nil {
			t.Errorf("CheckRecord(%s without profile_id) accepted", kind)
		}
	}
}

func TestTimelineSQLBindsEveryValue(t *testing.T) {
	q := TimelineQuery{Channel: "web'; DROP TABLE cx_events; --", Type: "track", From: time.Unix(10, 0), To: time.Unix(20, 0)}
	sql, args := timelineSQL("t", []string{"a", "b"}, q, &cursor{timeMS: 15000, eventID: "e"}, 11)
	if n := strings.Count(sql, "?"); n != len(args) {
		t.Fatalf("%d placeholders, %d args:\n%s", n, len(args), sql)
	}
	if strings.Contains(sql, "DROP") || strings.Contains(sql, "web") {
		t.Fatalf("a value was spliced into the SQL:\n%s", sql)
	}
}

func TestUnixSeconds(t *testing.T) {
	for ms, want := range map[int64]uint32{0: 0, 999: 0, 1000: 1, -1: 0, -1500: 0, 1<<33*1000 + 5: 1<<32 - 1} {
		if got := unixSeconds(ms); got != want {
			t.Errorf("unixSeconds(%d) = %d, want %d", ms, got, want)
		}
	}
}
