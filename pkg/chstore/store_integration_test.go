package chstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/schemas"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// resolved builds a resolved event of tenant t1 at t0 plus offset.
func resolved(id, profile, channel string, typ event.Type, offset time.Duration) event.Resolved {
	return event.Resolved{ProfileID: profile, Event: &event.Event{
		EventID:     id,
		Tenant:      "t1",
		Channel:     channel,
		Type:        typ,
		Name:        "Name " + id,
		EventTime:   t0.Add(offset),
		ReceivedAt:  t0.Add(offset + time.Second),
		Identifiers: []event.Identifier{{Type: "email", Value: id + "@example.com"}, {Type: "anonymous_id", Value: "a-" + id}},
		Traits:      map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`)},
		Properties:  json.RawMessage(`{"revenue":12.5,"quote":"it's \\ fine"}`),
	}}
}

// merged is a profiles_merged record of tenant t1 at version v; its event
// time is v minutes after t0 unless a test changes it.
func merged(from, into string, aliases []string, v int64) identity.Record {
	return identity.Record{Kind: identity.KindMerged, Tenant: "t1", ProfileID: into, FromProfileID: from,
		Aliases: aliases, EventID: "merge-" + from + "-" + into, At: t0.Add(time.Duration(v) * time.Minute), Version: v}
}

// created is a profile_created record of tenant t1 at version v, with the
// event time at.
func created(profile, rule string, at time.Time, v int64) identity.Record {
	return identity.Record{Kind: identity.KindCreated, Tenant: "t1", ProfileID: profile, Rule: rule,
		EventID: "create-" + profile, At: at, Version: v}
}

// at returns rec with its event time set.
func at(rec identity.Record, t time.Time) identity.Record {
	rec.At = t
	return rec
}

func TestIntegrationMigrateIsIdempotent(t *testing.T) {
	s := openTestStore(t) // migrated once
	ctx := context.Background()
	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("second migrate applied %v, want nothing", again)
	}
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM cx_schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	done, err := s.appliedVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(n) != len(ms) || len(done) != len(ms) {
		t.Errorf("cx_schema_migrations has %d rows for %d versions, want one row per migration (%d)", n, len(done), len(ms))
	}
}

func TestIntegrationTimeline(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()

	evs := []event.Resolved{
		resolved("e1", "A", "web", event.TypePage, 0),
		resolved("e2", "B", "store", event.TypeTrack, time.Minute),
		resolved("e3", "A", "call_center", event.TypeTrack, 2*time.Minute),
		resolved("e4", "B", "web", event.TypeIdentify, 3*time.Minute),
		resolved("e5", "C", "web", event.TypeTrack, 4*time.Minute), // never merged into A
	}
	if err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatalf("insert events: %v", err)
	}
	// Redelivery: the same events again, and e2 replayed under A.
	dup := resolved("e2", "A", "store", event.TypeTrack, time.Minute)
	if err := s.InsertEvents(ctx, append(slices.Clone(evs[:2]), dup)); err != nil {
		t.Fatalf("insert duplicates: %v", err)
	}

	if got := timelineIDs(t, s, "A", TimelineQuery{}); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("timeline of A before merge = %v, want e1 e2 e3 (e2 replayed under A once)", got)
	}

	if err := s.InsertIdentity(ctx, []identity.Record{
		{Kind: identity.KindCreated, Tenant: "t1", ProfileID: "A", EventID: "e1", At: t0},
		{Kind: identity.KindLinked, Tenant: "t1", ProfileID: "A", Identifier: "email:e1@example.com", EventID: "e1", At: t0},
		at(merged("B", "A", []string{"B"}, 1), t0.Add(5*time.Minute)),
	}); err != nil {
		t.Fatalf("insert identity: %v", err)
	}

	t.Run("merge re-attributes history", func(t *testing.T) {
		got := timelineIDs(t, s, "A", TimelineQuery{})
		if !slices.Equal(got, []string{"e1", "e2", "e3", "e4"}) {
			t.Fatalf("timeline of A = %v, want e1 e2 e3 e4", got)
		}
	})

	t.Run("event fields", func(t *testing.T) {
		page, err := s.Timeline(ctx, "t1", "A", TimelineQuery{Type: "identify"})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 1 {
			t.Fatalf("got %d events, want e4 only", len(page.Events))
		}
		ev := page.Events[0]
		want := evs[3]
		if ev.ProfileID != "A" || ev.RecordedProfileID != "B" || ev.Channel != "web" || ev.Name != want.Name ||
			!ev.EventTime.Equal(want.EventTime) || !ev.ReceivedAt.Equal(want.ReceivedAt) ||
			!slices.Equal(ev.Identifiers, want.Identifiers) ||
			string(ev.Traits) != `{"plan":"gold"}` || string(ev.Properties) != string(want.Properties) || ev.Context != nil {
			t.Errorf("event = %+v\nwant fields of %+v", ev, *want.Event)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["context"]; ok {
			t.Errorf("empty context is in JSON: %s", b)
		}
	})

	filters := []struct {
		name string
		q    TimelineQuery
		want []string
	}{
		{"channel", TimelineQuery{Channel: "web"}, []string{"e1", "e4"}},
		{"type", TimelineQuery{Type: "track"}, []string{"e2", "e3"}},
		{"from inclusive", TimelineQuery{From: t0.Add(time.Minute)}, []string{"e2", "e3", "e4"}},
		{"to exclusive", TimelineQuery{To: t0.Add(2 * time.Minute)}, []string{"e1", "e2"}},
		{"from and to at millisecond precision", TimelineQuery{From: t0.Add(time.Millisecond), To: t0.Add(2*time.Minute + time.Millisecond)}, []string{"e2", "e3"}},
		{"channel and type", TimelineQuery{Channel: "web", Type: "page"}, []string{"e1"}},
		{"nothing matches", TimelineQuery{Channel: "email"}, nil},
	}
	for _, f := range filters {
		t.Run("filter "+f.name, func(t *testing.T) {
			if got := timelineIDs(t, s, "A", f.q); !slices.Equal(got, f.want) {
				t.Errorf("timeline = %v, want %v", got, f.want)
			}
		})
	}

	t.Run("other profiles unaffected", func(t *testing.T) {
		if got := timelineIDs(t, s, "C", TimelineQuery{}); !slices.Equal(got, []string{"e5"}) {
			t.Errorf("timeline of C = %v, want e5", got)
		}
		page, err := s.Timeline(ctx, "t2", "A", TimelineQuery{})
		if err != nil || len(page.Events) != 0 {
			t.Errorf("timeline of A in another tenant = %v, %v; want empty", page.Events, err)
		}
	})

	t.Run("count distinct events", func(t *testing.T) {
		n, err := s.CountEvents(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("CountEvents = %d, want 5", n)
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for _, q := range []TimelineQuery{{Limit: -1}, {Limit: MaxLimit + 1}, {Cursor: "garbage"}, {From: t0, To: t0}} {
			if _, err := s.Timeline(ctx, "t1", "A", q); !errors.Is(err, ErrBadQuery) {
				t.Errorf("Timeline(%+v) error = %v, want ErrBadQuery", q, err)
			}
		}
	})
}

func TestIntegrationTimelinePagination(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	var (
		evs  []event.Resolved
		want []string
	)
	// 25 events, several sharing a millisecond so that the cursor's event-id
	// tie-break matters; half recorded under B, later merged into A.
	for i := range 25 {
		id := fmt.Sprintf("e%02d", i)
		profile := "A"
		if i%2 == 1 {
			profile = "B"
		}
		evs = append(evs, resolved(id, profile, "web", event.TypeTrack, time.Duration(i/3)*time.Millisecond))
		want = append(want, id)
	}
	if err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(ctx, evs[:10]); err != nil { // duplicates
		t.Fatal(err)
	}
	if err := s.InsertIdentity(ctx, []identity.Record{at(merged("B", "A", []string{"B"}, 1), t0)}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 4, 7, 25, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var (
				got    []string
				cursor string
				pages  int
			)
			for {
				page, err := s.Timeline(ctx, "t1", "A", TimelineQuery{Limit: limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page.Events) > limit {
					t.Fatalf("page of %d events for limit %d", len(page.Events), limit)
				}
				for _, ev := range page.Events {
					got = append(got, ev.EventID)
				}
				if page.Next == "" {
					break
				}
				if pages > 100 {
					t.Fatal("pagination does not end")
				}
				cursor = page.Next
			}
			if !slices.Equal(got, want) {
				t.Errorf("paged timeline = %v, want %v", got, want)
			}
			if wantPages := (25 + limit - 1) / limit; pages != wantPages {
				t.Errorf("took %d pages, want %d", pages, wantPages)
			}
		})
	}
}

func TestIntegrationAliasVersions(t *testing.T) {
	tests := []struct {
		name    string
		records []identity.Record
		// timelines maps a profile to the recorded profile ids its timeline
		// must cover (each profile X has one event "ev-X").
		timelines map[string][]string
	}{
		{
			name: "survivor merged again: ids merged earlier follow",
			records: []identity.Record{
				merged("B", "A", []string{"B"}, 1),
				merged("A", "C", []string{"A", "B"}, 2),
			},
			timelines: map[string][]string{"C": {"A", "B", "C"}, "A": {"A"}},
		},
		{
			name: "a late event's merge: the version decides, not the event time",
			records: []identity.Record{
				at(merged("B", "A", []string{"B"}, 1), t0.Add(2*time.Minute)),
				// A late event, older than the first merge, merges A (and B
				// with it) into C after it.
				at(merged("A", "C", []string{"A", "B"}, 2), t0.Add(time.Minute)),
			},
			timelines: map[string][]string{"C": {"A", "B", "C"}, "A": {"A"}},
		},
		{
			name: "an unmerge revives a merged-away id",
			records: []identity.Record{
				created("A", "", t0, 1),
				created("B", "", t0.Add(time.Minute), 2),
				merged("B", "A", []string{"B"}, 3),
				// The revival is dated at B's creating event, before the
				// merge; its version is higher.
				created("B", "unmerge", t0.Add(time.Minute), 4),
			},
			timelines: map[string][]string{"A": {"A"}, "B": {"B"}},
		},
		{
			name: "a revived id merged again forwards again",
			records: []identity.Record{
				merged("B", "A", []string{"B"}, 1),
				created("B", "unmerge", t0, 2),
				merged("B", "D", []string{"B"}, 3),
			},
			timelines: map[string][]string{"A": {"A"}, "B": {"B"}, "D": {"B", "D"}},
		},
		{
			name: "later version re-points an alias",
			records: []identity.Record{
				merged("B", "A", []string{"B"}, 1),
				merged("B", "D", []string{"B"}, 3),
			},
			timelines: map[string][]string{"A": {"A"}, "D": {"B", "D"}},
		},
		{
			name: "replayed older record does not win",
			records: []identity.Record{
				merged("B", "A", []string{"B"}, 1),
				merged("B", "D", []string{"B"}, 3),
				merged("B", "A", []string{"B"}, 1),
			},
			timelines: map[string][]string{"A": {"A"}, "D": {"B", "D"}},
		},
		{
			name: "records of earlier releases (version 0): the smallest profile id wins",
			records: []identity.Record{
				merged("B", "D", []string{"B"}, 0),
				merged("B", "A", []string{"B"}, 0),
			},
			timelines: map[string][]string{"A": {"A", "B"}, "D": {"D"}},
		},
		{
			name: "records of earlier releases (version 0): chains are followed",
			records: []identity.Record{
				merged("B", "A", []string{"B"}, 0),
				merged("A", "C", []string{"A"}, 0),
			},
			timelines: map[string][]string{"C": {"A", "B", "C"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			ctx := context.Background()
			var evs []event.Resolved
			for i, p := range []string{"A", "B", "C", "D"} {
				evs = append(evs, resolved("ev-"+p, p, "web", event.TypeTrack, time.Duration(i)*time.Second))
			}
			if err := s.InsertEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			for _, rec := range tt.records { // one insert each: separate parts
				if err := s.InsertIdentity(ctx, []identity.Record{rec}); err != nil {
					t.Fatal(err)
				}
			}
			for profile, want := range tt.timelines {
				page, err := s.Timeline(ctx, "t1", profile, TimelineQuery{})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, ev := range page.Events {
					got = append(got, ev.RecordedProfileID)
				}
				if !slices.Equal(got, want) {
					t.Errorf("timeline of %s covers %v, want %v", profile, got, want)
				}
			}
		})
	}
}

func TestIntegrationInsertIdentityRows(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	recs := []identity.Record{
		created("A", "", t0, 1),
		{Kind: identity.KindLinked, Tenant: "t1", ProfileID: "A", Identifier: "email:x@example.com", EventID: "create-A", At: t0, Version: 1},
		at(merged("B", "A", []string{"B", "Z"}, 2), t0.Add(1500*time.Millisecond)),
	}
	if err := s.InsertIdentity(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM cx_identity WHERE tenant = ? AND profile_id = ?", "t1", "A").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("cx_identity has %d rows for A, want 3", n)
	}
	var (
		aliases []string
		atMS    int64
	)
	if err := s.conn.QueryRow(ctx, "SELECT aliases, at_ms FROM cx_identity WHERE kind = ?", "profiles_merged").Scan(&aliases, &atMS); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(aliases, []string{"B", "Z"}) || atMS != t0.Add(1500*time.Millisecond).UnixMilli() {
		t.Errorf("merge row = %v at %d", aliases, atMS)
	}
	var version uint64
	if err := s.conn.QueryRow(ctx, "SELECT version FROM cx_identity WHERE kind = ?", "profiles_merged").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 2 {
		t.Errorf("merge row has version %d, want the record's 2", version)
	}
	rows, err := s.conn.Query(ctx, "SELECT alias_id, version FROM cx_aliases WHERE profile_id = ? ORDER BY alias_id", "A")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			alias string
			v     uint64
		)
		if err := rows.Scan(&alias, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s@%d", alias, v))
	}
	// A's own row from its creation, and one per alias of the merge; a
	// link writes none.
	if want := []string{"A@1", "B@2", "Z@2"}; !slices.Equal(got, want) {
		t.Errorf("cx_aliases rows into A = %v, want %v", got, want)
	}
}

func timelineIDs(t *testing.T, s *Store, profile string, q TimelineQuery) []string {
	t.Helper()
	page, err := s.Timeline(context.Background(), "t1", profile, q)
	if err != nil {
		t.Fatalf("timeline of %s: %v", profile, err)
	}
	if page.Next != "" {
		t.Fatalf("timeline of %s has a next page; raise the limit", profile)
	}
	var ids []string
	for _, ev := range page.Events {
		ids = append(ids, ev.EventID)
	}
	return ids
}
