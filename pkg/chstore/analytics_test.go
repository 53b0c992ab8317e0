package chstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/chstore/chstoretest"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/testenv"
)

// analyticsDoc is the analysts' guide whose every sql block this test runs.
const analyticsDoc = "../../docs/analytics.md"

// The population of the analytics test lives in tenant "shop"; tenant
// "other" reuses its ids (an event id, profile ids, an alias and snapshots)
// so that a query that forgets a tenant filter gives a wrong answer.
const (
	anTenant = "shop"
	anOther  = "other"
)

// anAt is a time of 2026 in UTC.
func anAt(month time.Month, day, hour, minute int) time.Time {
	return time.Date(2026, month, day, hour, minute, 0, 0, time.UTC)
}

// anEvent is a resolved event of tenant shop; ids are "type:value", props
// the properties as JSON text ("" for none).
func anEvent(id, profile, channel string, typ event.Type, name string, at time.Time, ids []string, props string) event.Resolved {
	e := &event.Event{EventID: id, Tenant: anTenant, Channel: channel, Type: typ, Name: name,
		EventTime: at, ReceivedAt: at.Add(2 * time.Second)}
	for _, s := range ids {
		ident, ok := event.ParseIdentifier(s)
		if !ok {
			panic("bad identifier " + s)
		}
		e.Identifiers = append(e.Identifiers, ident)
	}
	if props != "" {
		e.Properties = json.RawMessage(props)
	}
	return event.Resolved{ProfileID: profile, Event: e}
}

// anEvents is the population's timeline. The customers, after
// re-attribution:
//
//   - p-ann: anonymous on the web, then the app as p-ann-app (which placed the
//     order), merged into p-ann by e06; a refund and an NPS of 10.
//   - p-bob: identified in a store (an order in EUR, revenue a string), an
//     abandoned cart on the web, an NPS of 6 delivered three times.
//   - p-cat: anonymous on the web, an abandoned cart, an NPS given as a string
//     (not a response) and one of 9.5.
//   - p-dan and p-fam: p-fam (anonymous in the app, an order) was merged into
//     p-dan by e34, then an unmerge split them again: p-fam is its own
//     customer, its row p-fam -> p-fam (the unmerge's profile_created) newer
//     than the merge's.
//   - p-eve: first reached by email; p-eve-app was merged into p-eve-web by
//     e43 (10:00 on March 12), then e44, an event of March 11 resolved after
//     e43, merged p-eve-web (and p-eve-app) into p-eve. By event time that
//     merge came first; by version it came last, so p-eve-app's newest row
//     names p-eve directly: no chain.
//   - p-zed: deleted since; a cart converted exactly 24 hours later.
//   - p-gus (snapshots only): at risk by lifecycle, no events in cx_events.
func anEvents() []event.Resolved {
	const (
		track    = event.TypeTrack
		page     = event.TypePage
		screen   = event.TypeScreen
		identify = event.TypeIdentify
	)
	return []event.Resolved{
		anEvent("e01", "p-ann", "web", page, "Home", anAt(3, 2, 9, 0), []string{"anonymous_id:anon-ann"}, ""),
		anEvent("e02", "p-ann", "web", track, "Product Added", anAt(3, 2, 9, 5), []string{"anonymous_id:anon-ann"},
			`{"product_id":"sku-1","price":100}`),
		anEvent("e03", "p-ann-app", "mobile", screen, "Home", anAt(3, 2, 10, 0), []string{"device_id:dev-ann", "email:ann@example.com"}, ""),
		anEvent("e04", "p-ann-app", "mobile", track, "Checkout Started", anAt(3, 2, 10, 30),
			[]string{"device_id:dev-ann", "email:ann@example.com"}, `{"revenue":100}`),
		anEvent("e05", "p-ann-app", "mobile", track, "Order Completed", anAt(3, 2, 10, 45),
			[]string{"device_id:dev-ann", "email:ann@example.com"},
			`{"order_id":"o-1","revenue":100,"currency":"usd","products":[{"product_id":"sku-1","price":100}]}`),
		anEvent("e06", "p-ann", "web", identify, "", anAt(3, 2, 11, 0),
			[]string{"anonymous_id:anon-ann", "email:ann@example.com", "phone:+4915111111111"}, ""),
		anEvent("e07", "p-ann", "call_center", track, "Order Refunded", anAt(3, 5, 15, 0), []string{"email:ann@example.com"},
			`{"order_id":"o-1","revenue":20,"currency":"USD"}`),
		anEvent("e08", "p-ann", "email", track, "Survey Responded", anAt(3, 9, 8, 0), []string{"email:ann@example.com"}, `{"nps":10}`),
		anEvent("e09", "p-ann", "web", page, "Blog", anAt(4, 2, 12, 0), []string{"anonymous_id:anon-ann"}, ""),

		anEvent("e10", "p-bob", "store", track, "Order Completed", anAt(3, 3, 14, 0), []string{"email:bob@example.com"},
			`{"revenue":"50.00","currency":"EUR"}`),
		anEvent("e11", "p-bob", "web", track, "Product Added", anAt(3, 10, 19, 0),
			[]string{"email:bob@example.com", "anonymous_id:anon-bob", "email:bob2@example.com"}, `{"product_id":"sku-2"}`),
		anEvent("e12", "p-bob", "web", track, "Survey Responded", anAt(3, 10, 19, 10), []string{"anonymous_id:anon-bob"}, `{"nps":6}`),

		anEvent("e20", "p-cat", "web", page, "Home", anAt(3, 4, 20, 0), []string{"anonymous_id:anon-cat"}, ""),
		anEvent("e21", "p-cat", "web", track, "Product Added", anAt(3, 4, 20, 10), []string{"anonymous_id:anon-cat"}, `{"product_id":"sku-3"}`),
		anEvent("e22", "p-cat", "web", track, "Checkout Started", anAt(3, 4, 20, 20), []string{"anonymous_id:anon-cat"}, ""),
		anEvent("e23", "p-cat", "web", track, "Survey Responded", anAt(3, 4, 20, 30), []string{"anonymous_id:anon-cat"}, `{"nps":"9"}`),
		anEvent("e25", "p-cat", "web", track, "Survey Responded", anAt(3, 4, 20, 40), []string{"anonymous_id:anon-cat"}, `{"nps":9.5}`),
		anEvent("e24", "p-cat", "mobile", screen, "Home", anAt(4, 1, 10, 0), []string{"anonymous_id:anon-cat"}, ""),

		anEvent("e30", "p-dan", "web", page, "Home", anAt(3, 1, 12, 0), []string{"user_id:dan"}, ""),
		anEvent("e31", "p-fam", "mobile", screen, "Home", anAt(3, 5, 8, 0), []string{"device_id:dev-fam"}, ""),
		anEvent("e32", "p-fam", "mobile", track, "Product Added", anAt(3, 5, 9, 0),
			[]string{"device_id:dev-fam", "email:family@example.com"}, `{"product_id":"sku-4"}`),
		anEvent("e33", "p-fam", "mobile", track, "Order Completed", anAt(3, 5, 9, 30),
			[]string{"device_id:dev-fam", "email:family@example.com"}, `{"total":40,"currency":"USD"}`),
		anEvent("e34", "p-dan", "web", track, "Signed In", anAt(3, 6, 10, 0), []string{"user_id:dan", "email:family@example.com"}, ""),
		anEvent("e35", "p-fam", "email", track, "Survey Responded", anAt(3, 10, 8, 0), []string{"email:family@example.com"}, `{"nps":8}`),
		anEvent("e36", "p-dan", "web", track, "Survey Responded", anAt(3, 12, 9, 5), []string{"user_id:dan"}, `{"nps":11}`),
		anEvent("e37", "p-dan", "web", track, "Order Completed", anAt(3, 20, 18, 0), []string{"user_id:dan"}, `{"revenue":25,"currency":"USD"}`),
		anEvent("e38", "p-dan", "web", track, "Survey Responded", anAt(3, 20, 18, 5), []string{"user_id:dan"}, `{"nps":0}`),

		anEvent("e40", "p-eve", "email", track, "Email Opened", anAt(2, 27, 18, 0), []string{"email:eve@example.com"}, ""),
		anEvent("e41", "p-eve-web", "web", page, "Home", anAt(3, 1, 9, 0), []string{"anonymous_id:anon-eve"}, ""),
		anEvent("e42", "p-eve-app", "mobile", screen, "Home", anAt(3, 2, 9, 0), []string{"device_id:dev-eve"}, ""),
		anEvent("e43", "p-eve-web", "mobile", identify, "", anAt(3, 12, 10, 0), []string{"device_id:dev-eve", "anonymous_id:anon-eve"}, ""),
		anEvent("e44", "p-eve", "web", identify, "", anAt(3, 11, 10, 0), []string{"anonymous_id:anon-eve", "email:eve@example.com"}, ""),
		anEvent("e45", "p-eve", "mobile", track, "Order Completed", anAt(3, 13, 9, 0), []string{"device_id:dev-eve"},
			`{"revenue":70,"currency":"EUR"}`),
		anEvent("e46", "p-eve-app", "mobile", track, "Product Added", anAt(3, 12, 9, 30), []string{"device_id:dev-eve"}, `{"product_id":"sku-5"}`),
		anEvent("e47", "p-eve-web", "email", track, "Survey Responded", anAt(3, 16, 10, 0), []string{"anonymous_id:anon-eve"}, `{"nps":9}`),
		anEvent("e48", "p-eve", "email", track, "Survey Responded", anAt(3, 17, 10, 0), []string{"email:eve@example.com"}, `{"nps":7}`),

		anEvent("e50", "p-zed", "call_center", track, "Call Started", anAt(3, 3, 16, 0), []string{"phone:+4915100000000"}, ""),
		anEvent("e51", "p-zed", "web", track, "Product Added", anAt(3, 10, 20, 0), []string{"phone:+4915100000000"}, `{"product_id":"sku-6"}`),
		anEvent("e52", "p-zed", "web", track, "Order Completed", anAt(3, 11, 20, 0), []string{"phone:+4915100000000"}, `{"revenue":15}`),
	}
}

// anRedelivered are the copies an at-least-once sink and replays add: e05
// and e12 again (e12 twice), e04 and e43 replayed after their merges under
// the profile they were merged into, and tenant other's events with shop's
// ids.
func anRedelivered(evs []event.Resolved) []event.Resolved {
	byID := map[string]event.Resolved{}
	for _, e := range evs {
		byID[e.EventID] = e
	}
	under := func(id, profile string) event.Resolved {
		e := byID[id]
		cp := *e.Event
		return event.Resolved{ProfileID: profile, Event: &cp}
	}
	other := func(r event.Resolved) event.Resolved {
		r.Tenant = anOther
		return r
	}
	return []event.Resolved{
		byID["e05"], byID["e12"], byID["e12"],
		under("e04", "p-ann"), under("e43", "p-eve"),
		other(anEvent("e01", "p-ann", "web", event.TypeTrack, "Order Completed", anAt(3, 2, 9, 0),
			[]string{"anonymous_id:anon-ann"}, `{"revenue":999,"currency":"USD"}`)),
		other(anEvent("e60", "p-bob", "web", event.TypeTrack, "Survey Responded", anAt(3, 10, 9, 0),
			[]string{"anonymous_id:anon-bob"}, `{"nps":0}`)),
	}
}

// anRecords is the identity log as the resolver and an unmerge write it, in
// the order they made it: each record's Version is its place in the list
// (from 1; records of other customers interleave freely, those of one
// customer follow the order they were resolved in).
func anRecords() []identity.Record {
	rec := func(kind identity.Kind, profile, from, ident, eventID string, at time.Time) identity.Record {
		return identity.Record{Kind: kind, Tenant: anTenant, ProfileID: profile, FromProfileID: from,
			Identifier: ident, EventID: eventID, At: at}
	}
	// A merge made by an event names the event's identifiers.
	evIDs := map[string][]string{}
	for _, e := range anEvents() {
		for _, id := range e.Identifiers {
			evIDs[e.EventID] = append(evIDs[e.EventID], id.String())
		}
	}
	created := func(profile, eventID string, at time.Time) identity.Record {
		return rec(identity.KindCreated, profile, "", "", eventID, at)
	}
	linked := func(profile, ident, eventID string, at time.Time) identity.Record {
		return rec(identity.KindLinked, profile, "", ident, eventID, at)
	}
	merged := func(from, into, eventID string, at time.Time, aliases ...string) identity.Record {
		r := rec(identity.KindMerged, into, from, "", eventID, at)
		r.Aliases = aliases
		r.Identifiers = evIDs[eventID]
		return r
	}
	blocked := rec(identity.KindBlocked, "p-bob", "", "email:bob2@example.com", "e11", anAt(3, 10, 19, 0))
	blocked.Rule = "limit:email"
	blocked.Identifiers = []string{"email:bob@example.com", "email:bob2@example.com", "anonymous_id:anon-bob"}
	// The unmerge of user_id:dan from p-dan (what unmerge.lua records): the
	// cut, p-fam re-created under its old id at its creating event's time
	// but at a version above the merge's (its row p-fam -> p-fam wins), and
	// its identifiers moved back.
	const op = "unmerge-1"
	unmergeAt := anAt(3, 8, 12, 0)
	cut := rec(identity.KindCut, "p-dan", "p-dan", "user_id:dan", op, unmergeAt)
	cut.Rule = "unmerge"
	cut.Identifiers = []string{"device_id:dev-fam", "email:family@example.com"}
	revived := created("p-fam", "e31", anAt(3, 5, 8, 0))
	revived.Rule = "unmerge"
	moved := func(ident string) identity.Record {
		r := rec(identity.KindMoved, "p-fam", "p-dan", ident, op, unmergeAt)
		r.Rule = "unmerge"
		return r
	}
	recs := []identity.Record{
		created("p-ann", "e01", anAt(3, 2, 9, 0)),
		linked("p-ann", "anonymous_id:anon-ann", "e01", anAt(3, 2, 9, 0)),
		created("p-ann-app", "e03", anAt(3, 2, 10, 0)),
		linked("p-ann-app", "device_id:dev-ann", "e03", anAt(3, 2, 10, 0)),
		linked("p-ann-app", "email:ann@example.com", "e03", anAt(3, 2, 10, 0)),
		merged("p-ann-app", "p-ann", "e06", anAt(3, 2, 11, 0), "p-ann-app"),
		linked("p-ann", "phone:+4915111111111", "e06", anAt(3, 2, 11, 0)),

		created("p-bob", "e10", anAt(3, 3, 14, 0)),
		linked("p-bob", "email:bob@example.com", "e10", anAt(3, 3, 14, 0)),
		linked("p-bob", "anonymous_id:anon-bob", "e11", anAt(3, 10, 19, 0)),
		blocked,

		created("p-cat", "e20", anAt(3, 4, 20, 0)),
		linked("p-cat", "anonymous_id:anon-cat", "e20", anAt(3, 4, 20, 0)),

		created("p-dan", "e30", anAt(3, 1, 12, 0)),
		linked("p-dan", "user_id:dan", "e30", anAt(3, 1, 12, 0)),
		created("p-fam", "e31", anAt(3, 5, 8, 0)),
		linked("p-fam", "device_id:dev-fam", "e31", anAt(3, 5, 8, 0)),
		linked("p-fam", "email:family@example.com", "e32", anAt(3, 5, 9, 0)),
		merged("p-fam", "p-dan", "e34", anAt(3, 6, 10, 0), "p-fam"),
		cut, revived, moved("device_id:dev-fam"), moved("email:family@example.com"),

		created("p-eve", "e40", anAt(2, 27, 18, 0)),
		linked("p-eve", "email:eve@example.com", "e40", anAt(2, 27, 18, 0)),
		created("p-eve-web", "e41", anAt(3, 1, 9, 0)),
		linked("p-eve-web", "anonymous_id:anon-eve", "e41", anAt(3, 1, 9, 0)),
		created("p-eve-app", "e42", anAt(3, 2, 9, 0)),
		linked("p-eve-app", "device_id:dev-eve", "e42", anAt(3, 2, 9, 0)),
		merged("p-eve-app", "p-eve-web", "e43", anAt(3, 12, 10, 0), "p-eve-app"),
		// e44 happened before e43 but was resolved after it: an earlier at,
		// a higher version.
		merged("p-eve-web", "p-eve", "e44", anAt(3, 11, 10, 0), "p-eve-web", "p-eve-app"),

		created("p-zed", "e50", anAt(3, 3, 16, 0)),
		linked("p-zed", "phone:+4915100000000", "e50", anAt(3, 3, 16, 0)),
	}
	for i := range recs {
		recs[i].Version = int64(i + 1)
	}
	return recs
}

// anSnapshot is a profile state of tenant shop, in segments.
func anSnapshot(profile string, version uint64, asOf time.Time, lifecycle string, lastSeen time.Time,
	orders uint64, ltv float64, email string, segments ...string) chstore.Snapshot {
	return chstore.Snapshot{Tenant: anTenant, ProfileID: profile, Version: version, AsOf: asOf,
		FirstSeen: anAt(1, 1, 0, 0), LastSeen: lastSeen, Events: 1, Orders: orders, LifetimeValue: ltv,
		Currency: "USD", Lifecycle: lifecycle, Email: email, Segments: segments,
		Profile: `{"profile_id":"` + profile + `"}`}
}

// anSnapshots are the cx.profiles messages of the population, in no
// particular order.
func anSnapshots() []chstore.Snapshot {
	mergedInto := func(profile, into string, version uint64, asOf time.Time) chstore.Snapshot {
		return chstore.Snapshot{Tenant: anTenant, ProfileID: profile, Version: version, AsOf: asOf, MergedInto: into}
	}
	// Segments: p-bob left store_only when he was seen online; states that
	// a merge, a deletion or a newer state replaced list segments too, and
	// so do tenant other's.
	bob := anSnapshot("p-bob", 12, anAt(3, 12, 0, 0), "at_risk", anAt(3, 10, 19, 10), 1, 54, "bob@example.com",
		"newsletter_audience", "recent_detractors")
	gus := anSnapshot("p-gus", 3, anAt(2, 10, 0, 0), "at_risk", anAt(1, 5, 0, 0), 2, 300, "gus@example.com", "lapsed_buyers")
	gus.FirstSeen = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	other := anSnapshot("p-ann", 50, anAt(3, 20, 0, 0), "at_risk", anAt(1, 1, 0, 0), 9, 999, "x@example.com",
		"newsletter_audience", "vip_at_risk")
	other.Tenant = anOther
	otherLive := anSnapshot("p-eve-web", 51, anAt(3, 20, 0, 0), "active", anAt(3, 19, 0, 0), 0, 0, "", "recent_detractors")
	otherLive.Tenant = anOther
	return []chstore.Snapshot{
		anSnapshot("p-ann", 1, anAt(3, 2, 9, 0), "new", anAt(3, 2, 9, 5), 0, 0, ""),
		anSnapshot("p-ann-app", 2, anAt(3, 2, 10, 45), "new", anAt(3, 2, 10, 45), 1, 100, "ann@example.com", "newsletter_audience"),
		mergedInto("p-ann-app", "p-ann", 3, anAt(3, 2, 11, 0)),
		anSnapshot("p-ann", 3, anAt(3, 2, 11, 0), "new", anAt(3, 2, 11, 0), 1, 100, "ann@example.com", "newsletter_audience"),
		anSnapshot("p-ann", 9, anAt(4, 2, 12, 0), "active", anAt(4, 2, 12, 0), 1, 80, "ann@example.com", "newsletter_audience"),

		anSnapshot("p-bob", 4, anAt(3, 3, 14, 0), "new", anAt(3, 3, 14, 0), 1, 54, "bob@example.com",
			"newsletter_audience", "store_only"),
		bob, bob, // redelivered

		anSnapshot("p-cat", 5, anAt(4, 1, 10, 0), "new", anAt(4, 1, 10, 0), 0, 0, ""),

		anSnapshot("p-dan", 6, anAt(3, 1, 12, 0), "new", anAt(3, 1, 12, 0), 0, 0, ""),
		anSnapshot("p-fam", 7, anAt(3, 5, 9, 30), "new", anAt(3, 5, 9, 30), 1, 40, "family@example.com", "newsletter_audience"),
		mergedInto("p-fam", "p-dan", 8, anAt(3, 6, 10, 0)),
		anSnapshot("p-dan", 8, anAt(3, 6, 10, 0), "new", anAt(3, 6, 10, 0), 1, 40, "family@example.com", "newsletter_audience"),
		// The unmerge announces both profiles again, p-fam under its old id.
		anSnapshot("p-dan", 15, anAt(3, 8, 12, 0), "new", anAt(3, 6, 10, 0), 0, 0, ""),
		anSnapshot("p-fam", 15, anAt(3, 8, 12, 0), "active", anAt(3, 5, 9, 30), 1, 40, "family@example.com", "newsletter_audience"),
		anSnapshot("p-dan", 20, anAt(3, 20, 18, 5), "active", anAt(3, 20, 18, 5), 1, 25, "", "recent_detractors"),

		anSnapshot("p-eve", 10, anAt(3, 2, 9, 0), "new", anAt(2, 27, 18, 0), 0, 0, "eve@example.com"),
		mergedInto("p-eve-app", "p-eve-web", 10, anAt(3, 12, 10, 0)),
		mergedInto("p-eve-app", "p-eve", 11, anAt(3, 12, 10, 0)),
		mergedInto("p-eve-web", "p-eve", 11, anAt(3, 12, 10, 0)),
		anSnapshot("p-eve", 13, anAt(3, 17, 10, 0), "active", anAt(3, 17, 10, 0), 1, 75.6, "eve@example.com", "newsletter_audience"),

		anSnapshot("p-zed", 4, anAt(3, 3, 16, 0), "at_risk", anAt(3, 3, 16, 0), 0, 0, "", "unhappy"),
		{Tenant: anTenant, ProfileID: "p-zed", Version: 14, AsOf: anAt(3, 25, 0, 0), Deleted: true},

		gus, other, otherLive,
	}
}

// anParams are the values bound to the placeholders the doc names.
var anParams = map[string]any{
	"tenant":     anTenant,
	"profile":    "p-ann",
	"from":       anAt(3, 1, 0, 0),
	"to":         anAt(4, 1, 0, 0),
	"hours":      24,
	"as_of":      anAt(4, 10, 0, 0),
	"risk_days":  30,
	"churn_days": 90,
	"top":        10,
}

// anCase is one run of a doc query: parameters that differ from anParams,
// and the exact rows, columns joined with " | " (times in UTC, Date as
// 2006-01-02, floats in their shortest form).
type anCase struct {
	params map[string]any
	want   []string
}

// anExpected holds the known answers, by the heading of the doc's section.
var anExpected = map[string][]anCase{
	"The alias map": {
		{want: []string{
			// p-fam is left out: the unmerge's row p-fam -> p-fam is newer than
			// the merge's. p-eve-app's newest row is e44's merge, resolved last.
			"p-ann-app | p-ann",
			"p-eve-app | p-eve",
			"p-eve-web | p-eve",
		}},
		{params: map[string]any{"tenant": anOther}, want: []string{
			// Rows of version 0 on equal terms: p-cat's smallest target wins,
			// p-dan, which forwards further.
			"p-bob | p-ann",
			"p-cat | p-dan",
			"p-dan | p-eve",
		}},
	},
	"Checking for chains": {
		{want: []string{}},
		{params: map[string]any{"tenant": anOther}, want: []string{"p-cat | p-dan"}},
	},
	"The ids that make up a profile now": {
		{want: []string{"p-ann", "p-ann-app"}},
		{params: map[string]any{"profile": "p-eve"}, want: []string{"p-eve", "p-eve-app", "p-eve-web"}},
		{params: map[string]any{"profile": "p-dan"}, want: []string{"p-dan"}}, // p-fam split off again
		{params: map[string]any{"profile": "p-fam"}, want: []string{"p-fam"}},
	},
	"1. One customer's journey across channels": {
		{want: []string{
			"2026-03-02 09:00:00 | web | page | Home | e01 | p-ann",
			"2026-03-02 09:05:00 | web | track | Product Added | e02 | p-ann",
			"2026-03-02 10:00:00 | mobile | screen | Home | e03 | p-ann-app",
			"2026-03-02 10:30:00 | mobile | track | Checkout Started | e04 | p-ann", // replayed under p-ann, the copy inserted last
			"2026-03-02 10:45:00 | mobile | track | Order Completed | e05 | p-ann-app",
			"2026-03-02 11:00:00 | web | identify |  | e06 | p-ann",
			"2026-03-05 15:00:00 | call_center | track | Order Refunded | e07 | p-ann",
			"2026-03-09 08:00:00 | email | track | Survey Responded | e08 | p-ann",
			"2026-04-02 12:00:00 | web | page | Blog | e09 | p-ann",
		}},
		{params: map[string]any{"profile": "p-eve"}, want: []string{
			"2026-02-27 18:00:00 | email | track | Email Opened | e40 | p-eve",
			"2026-03-01 09:00:00 | web | page | Home | e41 | p-eve-web",
			"2026-03-02 09:00:00 | mobile | screen | Home | e42 | p-eve-app", // merged twice, forwards to p-eve
			"2026-03-11 10:00:00 | web | identify |  | e44 | p-eve",
			"2026-03-12 09:30:00 | mobile | track | Product Added | e46 | p-eve-app",
			"2026-03-12 10:00:00 | mobile | identify |  | e43 | p-eve",
			"2026-03-13 09:00:00 | mobile | track | Order Completed | e45 | p-eve",
			"2026-03-16 10:00:00 | email | track | Survey Responded | e47 | p-eve-web",
			"2026-03-17 10:00:00 | email | track | Survey Responded | e48 | p-eve",
		}},
		{params: map[string]any{"profile": "p-dan"}, want: []string{
			// None of p-fam's: the unmerge split it off again.
			"2026-03-01 12:00:00 | web | page | Home | e30 | p-dan",
			"2026-03-06 10:00:00 | web | track | Signed In | e34 | p-dan",
			"2026-03-12 09:05:00 | web | track | Survey Responded | e36 | p-dan",
			"2026-03-20 18:00:00 | web | track | Order Completed | e37 | p-dan",
			"2026-03-20 18:05:00 | web | track | Survey Responded | e38 | p-dan",
		}},
		{params: map[string]any{"profile": "p-fam"}, want: []string{
			// Its own again: before the merge and after the unmerge.
			"2026-03-05 08:00:00 | mobile | screen | Home | e31 | p-fam",
			"2026-03-05 09:00:00 | mobile | track | Product Added | e32 | p-fam",
			"2026-03-05 09:30:00 | mobile | track | Order Completed | e33 | p-fam",
			"2026-03-10 08:00:00 | email | track | Survey Responded | e35 | p-fam",
		}},
	},
	"2. Channel mix per day": {{want: []string{
		"2026-03-01 | web | 2 | 2 | 100",
		"2026-03-02 | mobile | 4 | 2 | 57.1", // e04 once, although under two ids; p-ann and p-eve
		"2026-03-02 | web | 3 | 1 | 42.9",
		"2026-03-03 | call_center | 1 | 1 | 50",
		"2026-03-03 | store | 1 | 1 | 50",
		"2026-03-04 | web | 5 | 1 | 100",
		"2026-03-05 | call_center | 1 | 1 | 25",
		"2026-03-05 | mobile | 3 | 1 | 75",
		"2026-03-06 | web | 1 | 1 | 100",
		"2026-03-09 | email | 1 | 1 | 100",
		"2026-03-10 | email | 1 | 1 | 25",
		"2026-03-10 | web | 3 | 2 | 75", // e12 once
		"2026-03-11 | web | 2 | 2 | 100",
		"2026-03-12 | mobile | 2 | 1 | 66.7", // e43 once; e46 (p-eve-app) and e43 are both p-eve's
		"2026-03-12 | web | 1 | 1 | 33.3",
		"2026-03-13 | mobile | 1 | 1 | 100",
		"2026-03-16 | email | 1 | 1 | 100",
		"2026-03-17 | email | 1 | 1 | 100",
		"2026-03-20 | web | 2 | 1 | 100",
	}}},
	"3. Conversion from anonymous visit to first order": {{want: []string{
		// p-fam's first event is its own (not p-dan's web visit), and p-ann's
		// order was placed as p-ann-app.
		"mobile | 1 | 1 | 100 | 1.5",
		"web | 2 | 1 | 50 | 1.75",
	}}},
	"4. Cart abandonment rate": {{want: []string{
		"2026-03-02 | 1 | 0 | 0",   // p-ann's cart, the order placed as p-ann-app
		"2026-03-04 | 1 | 1 | 100", // p-cat
		"2026-03-05 | 1 | 0 | 0",   // p-fam
		"2026-03-10 | 2 | 1 | 50",  // p-bob abandoned; p-zed ordered exactly 24 hours later
		"2026-03-12 | 1 | 0 | 0",   // p-eve's cart as p-eve-app, the order 23.5 hours later
	}}},
	"5. Lifetime value by acquisition channel": {{want: []string{
		"call_center | USD | 1 | 1 | 15 | 0 | 15 | 15", // no currency: USD
		"email | EUR | 1 | 1 | 70 | 0 | 70 | 70",
		"mobile | USD | 1 | 1 | 40 | 0 | 40 | 40", // p-fam's total, acquired in the app
		"store | EUR | 1 | 1 | 50 | 0 | 50 | 50",  // revenue as a string
		"web | USD | 2 | 2 | 125 | 20 | 105 | 52.5",
	}}},
	"6. Customers at risk of churn": {{want: []string{
		"p-gus | gus@example.com | at_risk | 2026-01-05 00:00:00 | 95 | lifecycle | 2 | 300 | USD",
		"p-bob | bob@example.com | at_risk | 2026-03-10 19:10:00 | 30 | both | 1 | 54 | USD",
		// Last seen in the snapshot on March 5; its last event, on March 10,
		// counts because it is p-fam's again.
		"p-fam | family@example.com | active | 2026-03-10 08:00:00 | 30 | recency | 1 | 40 | USD",
	}}},
	"7. NPS trend by channel": {{want: []string{
		"2026-03-02 | web | 1 | 1 | 1 | 0 | 0 | 100", // 9.5; "9" is no response
		"2026-03-09 | email | 2 | 2 | 1 | 1 | 0 | 50",
		"2026-03-09 | web | 1 | 1 | 0 | 0 | 1 | -100", // e12 once; 11 is no response
		"2026-03-16 | email | 2 | 1 | 1 | 1 | 0 | 50", // both p-eve's
		"2026-03-16 | web | 1 | 1 | 0 | 0 | 1 | -100",
	}}},
	"8. Merges per day": {{want: []string{
		"2026-03-02 | 1 | 1 | 0 | 0",
		"2026-03-06 | 1 | 1 | 0 | 0",
		"2026-03-08 | 0 | 0 | 0 | 1",
		"2026-03-10 | 0 | 0 | 1 | 0",
		"2026-03-11 | 1 | 2 | 0 | 0",
		"2026-03-12 | 1 | 1 | 0 | 0",
	}}},
	"9. Identifiers that caused the most merges": {
		{want: []string{
			// phone:+4915111111111 came with e06 but was new: no cause.
			"anonymous_id:anon-eve | 2 | 2",
			"anonymous_id:anon-ann | 1 | 1",
			"device_id:dev-eve | 1 | 1",
			"email:ann@example.com | 1 | 1",
			"email:eve@example.com | 1 | 1",
			"email:family@example.com | 1 | 1",
			"user_id:dan | 1 | 1",
		}},
		{params: map[string]any{"top": 2, "from": anAt(3, 11, 10, 0)}, want: []string{
			"anonymous_id:anon-eve | 2 | 2",
			"device_id:dev-eve | 1 | 1",
		}},
	},
	"10. Members per segment now": {{want: []string{
		// p-ann, p-bob (redelivered: once), p-eve and p-fam (its own again
		// after the unmerge); not p-ann-app, merged away, nor p-dan, whose
		// newer states dropped it.
		"newsletter_audience | 4",
		"recent_detractors | 2", // p-bob, p-dan
		"lapsed_buyers | 1",     // p-gus, snapshots only
		// Not store_only (p-bob's older state), unhappy (p-zed, deleted)
		// or vip_at_risk (tenant other).
	}}},
}

// anSection is a part of the doc under one heading.
type anSection struct {
	heading string
	params  []string // the names of the "Parameters:" paragraph, in order
	sql     []string
}

var (
	anHeading  = regexp.MustCompile(`^#{1,6} +(.+?)\s*$`)
	anQuestion = regexp.MustCompile(`^\d+\. `)
	anName     = regexp.MustCompile("`([a-z_]+)`")
)

// anParseDoc splits markdown into sections by heading and collects each
// section's sql blocks and its "Parameters:" paragraph.
func anParseDoc(t *testing.T, md string) []anSection {
	t.Helper()
	var (
		out        []anSection
		cur        *anSection
		inSQL      bool
		inOther    bool
		inParams   bool
		block      strings.Builder
		paramsText strings.Builder
	)
	flushParams := func() {
		if inParams {
			for _, m := range anName.FindAllStringSubmatch(paramsText.String(), -1) {
				cur.params = append(cur.params, m[1])
			}
			inParams = false
		}
	}
	for line := range strings.Lines(md) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case inSQL:
			if strings.TrimSpace(line) == "```" {
				cur.sql = append(cur.sql, block.String())
				block.Reset()
				inSQL = false
				continue
			}
			block.WriteString(line + "\n")
			continue
		case inOther:
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inOther = false
			}
			continue
		}
		if m := anHeading.FindStringSubmatch(line); m != nil {
			if cur != nil {
				flushParams()
			}
			out = append(out, anSection{heading: m[1]})
			cur = &out[len(out)-1]
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "```sql":
			if cur == nil {
				t.Fatal("sql block before the first heading")
			}
			flushParams()
			inSQL = true
		case strings.HasPrefix(trimmed, "```"):
			inOther = true
		case strings.HasPrefix(trimmed, "Parameters:"):
			if cur == nil {
				t.Fatal("Parameters before the first heading")
			}
			inParams = true
			paramsText.Reset()
			paramsText.WriteString(trimmed)
		case inParams && trimmed == "":
			flushParams()
		case inParams:
			paramsText.WriteString(" " + trimmed)
		}
	}
	if inSQL || inOther {
		t.Fatal("unterminated code block")
	}
	if cur != nil {
		flushParams()
	}
	return out
}

// anPlaceholders counts the ? placeholders outside string literals and
// comments, as clickhouse-go's binding sees them.
func anPlaceholders(sql string) int {
	n := 0
	inString := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '\'':
			inString = !inString
		case !inString && c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case !inString && c == '?':
			n++
		}
	}
	return n
}

// anQuery runs sql with args and renders each row as its columns joined by
// " | ".
func anQuery(ctx context.Context, conn clickhouse.Conn, sql string, args []any) ([]string, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	out := []string{}
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		cols := make([]string, len(dest))
		for i, d := range dest {
			cols[i] = anFormat(types[i].DatabaseTypeName(), reflect.ValueOf(d).Elem().Interface())
		}
		out = append(out, strings.Join(cols, " | "))
	}
	return out, rows.Err()
}

func anFormat(dbType string, v any) string {
	switch x := v.(type) {
	case time.Time:
		if dbType == "Date" {
			return x.UTC().Format(time.DateOnly)
		}
		return x.UTC().Format(time.DateTime)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	}
	return fmt.Sprint(v)
}

// TestIntegrationAnalyticsDoc runs every sql block of docs/analytics.md,
// exactly as printed, on a hand-made population with known answers: events
// with redelivered and replayed copies, merges (one resolved out of
// event-time order), a merge undone by an unmerge, blocked merges, snapshots
// with older and redelivered versions, merges and a tombstone, and another
// tenant that reuses the ids and has rows of version 0 that make a chain.
func TestIntegrationAnalyticsDoc(t *testing.T) {
	md, err := os.ReadFile(analyticsDoc)
	if err != nil {
		t.Fatal(err)
	}
	sections := anParseDoc(t, string(md))

	s := chstoretest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	evs := anEvents()
	if err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatalf("insert events: %v", err)
	}
	if err := s.InsertEvents(ctx, anRedelivered(evs)); err != nil {
		t.Fatalf("insert redelivered events: %v", err)
	}
	recs := anRecords()
	if err := s.InsertIdentity(ctx, recs); err != nil {
		t.Fatalf("insert identity records: %v", err)
	}
	// Redelivered merges; tenant other's merge of p-bob into p-ann, at a
	// version above shop's p-bob -> p-bob; and two merges of tenant other
	// written by an earlier release (version 0): p-cat into p-dan, then
	// p-dan (and p-cat) into p-eve. On equal versions p-cat's smaller target
	// wins: p-cat -> p-dan -> p-eve, a chain.
	again := []identity.Record{}
	for _, r := range recs {
		if r.Kind == identity.KindMerged && (r.EventID == "e06" || r.EventID == "e34") {
			again = append(again, r)
		}
	}
	otherMerge := func(from, into, eventID string, version int64, aliases ...string) identity.Record {
		return identity.Record{Kind: identity.KindMerged, Tenant: anOther, ProfileID: into,
			FromProfileID: from, Aliases: aliases, EventID: eventID, At: anAt(3, 2, 9, 0), Version: version}
	}
	again = append(again,
		otherMerge("p-bob", "p-ann", "e01", 1000, "p-bob"),
		otherMerge("p-cat", "p-dan", "e20", 0, "p-cat"),
		otherMerge("p-dan", "p-eve", "e30", 0, "p-dan", "p-cat"))
	if err := s.InsertIdentity(ctx, again); err != nil {
		t.Fatalf("insert redelivered identity records: %v", err)
	}
	if err := s.InsertSnapshots(ctx, anSnapshots()); err != nil {
		t.Fatalf("insert snapshots: %v", err)
	}

	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{testenv.ClickHouse(t)},
		Auth: clickhouse.Auth{Database: s.Database(), Username: chstore.Default().Username, Password: chstore.Default().Password},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// The copies are there when the queries run: those replayed under
	// another profile id never collapse, whatever ClickHouse merges.
	var rowsN, distinct uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM cx_events WHERE tenant = ?", anTenant).Scan(&rowsN, &distinct); err != nil {
		t.Fatal(err)
	}
	if distinct != uint64(len(evs)) || rowsN < distinct+2 {
		t.Fatalf("cx_events holds %d rows of %d events, want %d events and at least two extra copies", rowsN, distinct, len(evs))
	}

	questions, ran := 0, map[string]bool{}
	for _, sec := range sections {
		if anQuestion.MatchString(sec.heading) {
			questions++
			if len(sec.sql) != 1 {
				t.Errorf("%q: %d sql blocks, want one per question", sec.heading, len(sec.sql))
			}
		}
		if len(sec.sql) == 0 {
			continue
		}
		cases, ok := anExpected[sec.heading]
		if !ok {
			t.Errorf("%q: the doc has sql here but the test knows no answer", sec.heading)
			continue
		}
		ran[sec.heading] = true
		for _, sql := range sec.sql {
			if n := anPlaceholders(sql); n != len(sec.params) {
				t.Errorf("%q: %d placeholders but the Parameters line names %d (%v)", sec.heading, n, len(sec.params), sec.params)
				continue
			}
			for i, c := range cases {
				args := make([]any, len(sec.params))
				for j, name := range sec.params {
					v, ok := c.params[name]
					if !ok {
						v, ok = anParams[name]
					}
					if !ok {
						t.Fatalf("%q: no value for parameter %q", sec.heading, name)
					}
					args[j] = v
				}
				got, err := anQuery(ctx, conn, sql, args)
				if err != nil {
					t.Errorf("%q (case %d): %v", sec.heading, i, err)
					continue
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("%q (case %d, %v):\ngot\n\t%s\nwant\n\t%s", sec.heading, i, c.params,
						strings.Join(got, "\n\t"), strings.Join(c.want, "\n\t"))
				}
			}
		}
	}
	if questions < 8 {
		t.Errorf("the doc has %d numbered questions, want at least 8", questions)
	}
	for heading := range anExpected {
		if !ran[heading] {
			t.Errorf("%q: the test has an answer but the doc has no sql under that heading", heading)
		}
	}

	// The journey query and the timeline API agree, also after the unmerge
	// (both read cx_aliases, where p-fam's newest row is its own).
	for _, profile := range []string{"p-ann", "p-eve", "p-dan", "p-fam"} {
		page, err := s.Timeline(ctx, anTenant, profile, chstore.TimelineQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range page.Events {
			ids = append(ids, e.EventID)
		}
		var want []string
		for _, c := range anExpected["1. One customer's journey across channels"] {
			p, _ := c.params["profile"].(string)
			if p == "" {
				p = anParams["profile"].(string)
			}
			if p != profile {
				continue
			}
			for _, row := range c.want {
				want = append(want, strings.Split(row, " | ")[4])
			}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("Timeline(%s) = %v, the doc's journey %v", profile, ids, want)
		}
	}
}
