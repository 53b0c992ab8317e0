package segment

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pkg/profile"
)

var now = time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// sample is a profile as Render makes it (pkg/profile's golden profile),
// with every optional field set.
func sample() *profile.Profile {
	order := at("2026-03-01T12:00:00Z")
	return &profile.Profile{
		ProfileID:   "0b9a3c2e-0000-5000-8000-000000000001",
		Tenant:      "acme",
		Version:     42,
		AsOf:        now,
		Identifiers: map[string][]string{"anonymous_id": {"a-1"}, "email": {"jane@example.com"}},
		Traits: map[string]json.RawMessage{
			"email": json.RawMessage(`"jane@example.com"`), "name": json.RawMessage(`"Jane Doe"`),
			"loyalty_points": json.RawMessage(`90`), "vip": json.RawMessage(`true`),
			"tags":    json.RawMessage(`["gold","newsletter",3]`),
			"address": json.RawMessage(`{"city":"Berlin","zip":"10115"}`),
			"signup":  json.RawMessage(`"2026-01-15T09:30:00Z"`),
			"nothing": json.RawMessage(`null`),
		},
		Demographic: profile.Demographic{Name: "Jane Doe", Email: "jane@example.com", Locale: "de-DE", Country: "DE", City: "Berlin"},
		Behavioral: profile.Behavioral{
			FirstSeen: at("2026-03-01T10:00:00Z"), LastSeen: at("2026-03-02T16:00:00Z"),
			Events: 5, Sessions: 5, PageViews: 1,
			Channels:    map[string]int64{"call_center": 1, "email": 1, "mobile": 1, "store": 1, "web": 1},
			EventTypes:  map[string]int64{"identify": 1, "page": 1, "track": 3},
			LastChannel: "email", LastEvent: "Survey Responded",
		},
		Transactional: profile.Transactional{
			Orders: 1, Items: 2, Refunds: 1,
			Revenue: map[string]float64{"EUR": 89.9}, Refunded: map[string]float64{"EUR": 44.95},
			LifetimeValue: map[string]float64{"EUR": 44.95}, Currency: "USD",
			LifetimeValueReporting: 49.45, AverageOrderValue: 98.89, Unconverted: []string{"XTS"},
			FirstOrderAt: &order, LastOrderAt: &order,
		},
		Psychographic: profile.Psychographic{
			Preferences: map[string]json.RawMessage{"channel": json.RawMessage(`"email"`)},
			Consent:     map[string]bool{"advertising": false, "marketing": true},
			NPS:         &profile.Score{Score: 6, At: at("2026-03-02T16:00:00Z"), Channel: "email"},
			CSAT:        &profile.Score{Score: 3, At: at("2026-03-02T16:00:00Z"), Channel: "email"},
			Sentiment:   &profile.Sentiment{Score: -1000, Label: "negative", At: at("2026-03-02T16:00:00Z"), Average: -1000, Responses: 1},
		},
		Derived:    profile.Derived{Lifecycle: "new", RFM: &profile.RFM{Recency: 4, Frequency: 1, Monetary: 1, Segment: "411"}},
		MergedFrom: []string{"0b9a3c2e-0000-5000-8000-000000000002"},
	}
}

// bare is a profile with nothing optional: the omitted and null fields of
// the JSON form.
func bare() *profile.Profile {
	return &profile.Profile{ProfileID: "p", Tenant: "acme", Behavioral: profile.Behavioral{Channels: map[string]int64{}}}
}

func compileOne(t *testing.T, c Cond) *Segment {
	t.Helper()
	s, err := Compile([]Spec{{Name: "s", When: c}})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	g, _ := s.Get("s")
	return g
}

func TestOperators(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		c    Cond
		p    *profile.Profile // sample() when nil
		want bool
	}{
		{"eq text", Cond{Field: "derived.lifecycle", Eq: "new"}, nil, true},
		{"eq text other", Cond{Field: "derived.lifecycle", Eq: "at_risk"}, nil, false},
		{"eq empty lifecycle is present", Cond{Field: "derived.lifecycle", Eq: ""}, bare(), true},
		{"eq int", Cond{Field: "transactional.orders", Eq: 1}, nil, true},
		{"eq float", Cond{Field: "transactional.lifetime_value_reporting", Eq: 49.45}, nil, true},
		{"eq int against float field", Cond{Field: "psychographic.nps.score", Eq: 6}, nil, true},
		{"eq bool true", Cond{Field: "psychographic.consent.marketing", Eq: true}, nil, true},
		{"eq bool false", Cond{Field: "psychographic.consent.advertising", Eq: false}, nil, true},
		{"eq bool missing purpose", Cond{Field: "psychographic.consent.analytics", Eq: false}, nil, false},
		{"eq time instant", Cond{Field: "behavioral.first_seen", Eq: "2026-03-01T11:00:00+01:00"}, nil, true},
		{"eq time other", Cond{Field: "behavioral.first_seen", Eq: "2026-03-01T10:00:01Z"}, nil, false},
		{"eq time as Go time", Cond{Field: "behavioral.first_seen", Eq: at("2026-03-01T10:00:00Z")}, nil, true},
		{"eq time text trait", Cond{Field: "traits.signup", Eq: "2026-01-15T10:30:00+01:00"}, nil, true},
		{"ne present", Cond{Field: "derived.lifecycle", Ne: "churned"}, nil, true},
		{"ne equal", Cond{Field: "derived.lifecycle", Ne: "new"}, nil, false},
		{"ne missing", Cond{Field: "demographic.phone", Ne: "+49"}, nil, false},
		{"ne other type", Cond{Field: "traits.loyalty_points", Ne: "90"}, nil, true},
		{"in", Cond{Field: "demographic.country", In: []any{"AT", "DE", "CH"}}, nil, true},
		{"in none", Cond{Field: "demographic.country", In: []any{"AT", "CH"}}, nil, false},
		{"in missing", Cond{Field: "demographic.country", In: []any{"AT", "DE"}}, bare(), false},
		{"gt", Cond{Field: "transactional.lifetime_value_reporting", Gt: 49}, nil, true},
		{"gt equal", Cond{Field: "transactional.lifetime_value_reporting", Gt: 49.45}, nil, false},
		{"gte equal", Cond{Field: "transactional.lifetime_value_reporting", Gte: 49.45}, nil, true},
		{"lt", Cond{Field: "psychographic.nps.score", Lt: 7}, nil, true},
		{"lt equal", Cond{Field: "psychographic.nps.score", Lt: 6}, nil, false},
		{"lte equal", Cond{Field: "psychographic.nps.score", Lte: 6}, nil, true},
		{"lte missing", Cond{Field: "psychographic.nps.score", Lte: 6}, bare(), false},
		{"gt negative", Cond{Field: "psychographic.sentiment.score", Gt: -1001}, nil, true},
		{"gt time", Cond{Field: "behavioral.last_seen", Gt: "2026-03-02T15:59:59Z"}, nil, true},
		{"lt time pointer", Cond{Field: "transactional.last_order_at", Lt: "2026-03-01T12:00:00Z"}, nil, false},
		{"lte time pointer", Cond{Field: "transactional.last_order_at", Lte: "2026-03-01T12:00:00Z"}, nil, true},
		{"gt time nil pointer", Cond{Field: "transactional.last_order_at", Gt: "2000-01-01T00:00:00Z"}, bare(), false},
		{"gt time on a text trait", Cond{Field: "traits.signup", Gt: "2026-01-01T00:00:00Z"}, nil, true},
		{"gt number on a text trait", Cond{Field: "traits.email", Gt: 1}, nil, false},
		{"gt on a number trait", Cond{Field: "traits.loyalty_points", Gt: 89.5}, nil, true},
		{"exists", Cond{Field: "demographic.email", Exists: &yes}, nil, true},
		{"exists empty omitted", Cond{Field: "demographic.email", Exists: &yes}, bare(), false},
		{"exists false", Cond{Field: "demographic.phone", Exists: &no}, nil, true},
		{"exists object", Cond{Field: "psychographic.nps", Exists: &yes}, nil, true},
		{"exists nil object", Cond{Field: "psychographic.nps", Exists: &yes}, bare(), false},
		{"exists struct", Cond{Field: "demographic", Exists: &yes}, bare(), true},
		{"exists map", Cond{Field: "behavioral.channels", Exists: &yes}, bare(), true},
		{"exists null map", Cond{Field: "traits", Exists: &yes}, bare(), false},
		{"exists map key", Cond{Field: "behavioral.channels.store", Exists: &yes}, nil, true},
		{"exists missing key", Cond{Field: "behavioral.channels.social", Exists: &yes}, nil, false},
		{"exists null trait", Cond{Field: "traits.nothing", Exists: &yes}, nil, false},
		{"exists zero time", Cond{Field: "behavioral.first_seen", Exists: &yes}, bare(), true},
		{"exists omitted array", Cond{Field: "transactional.unconverted", Exists: &yes}, bare(), false},
		{"exists null array", Cond{Field: "merged_from", Exists: &yes}, bare(), false},
		{"exists empty array", Cond{Field: "merged_from", Exists: &yes}, &profile.Profile{MergedFrom: []string{}}, true},
		{"contains identifier", Cond{Field: "identifiers.email", Contains: "jane@example.com"}, nil, true},
		{"contains identifier not", Cond{Field: "identifiers.email", Contains: "joe@example.com"}, nil, false},
		{"contains missing type", Cond{Field: "identifiers.phone", Contains: "+49"}, nil, false},
		{"contains merged_from", Cond{Field: "merged_from", Contains: "0b9a3c2e-0000-5000-8000-000000000002"}, nil, true},
		{"contains unconverted", Cond{Field: "transactional.unconverted", Contains: "XTS"}, nil, true},
		{"contains trait text", Cond{Field: "traits.tags", Contains: "gold"}, nil, true},
		{"contains trait number", Cond{Field: "traits.tags", Contains: 3}, nil, true},
		{"contains trait not array", Cond{Field: "traits.email", Contains: "jane@example.com"}, nil, false},
		{"within", Cond{Field: "psychographic.nps.at", Within: "30d"}, nil, true},
		{"within not", Cond{Field: "psychographic.nps.at", Within: "7d"}, nil, false},
		{"within hours", Cond{Field: "behavioral.last_seen", Within: "720h"}, nil, true},
		{"within missing", Cond{Field: "psychographic.nps.at", Within: "30d"}, bare(), false},
		{"within trait text", Cond{Field: "traits.signup", Within: "90d"}, nil, true},
		{"within trait not a time", Cond{Field: "traits.email", Within: "90d"}, nil, false},
		{"older_than", Cond{Field: "behavioral.last_seen", OlderThan: "14d"}, nil, true},
		{"older_than not", Cond{Field: "behavioral.last_seen", OlderThan: "30d"}, nil, false},
		{"older_than pointer", Cond{Field: "transactional.last_order_at", OlderThan: "1d12h"}, nil, true},
		{"older_than missing", Cond{Field: "transactional.last_order_at", OlderThan: "1d"}, bare(), false},
		{"map key number", Cond{Field: "transactional.revenue.EUR", Gt: 80}, nil, true},
		{"map key missing", Cond{Field: "transactional.revenue.USD", Gt: -1}, nil, false},
		{"event types", Cond{Field: "behavioral.event_types.track", Gte: 3}, nil, true},
		{"trait text", Cond{Field: "traits.name", Eq: "Jane Doe"}, nil, true},
		{"trait bool", Cond{Field: "traits.vip", Eq: true}, nil, true},
		{"trait nested", Cond{Field: "traits.address.city", Eq: "Berlin"}, nil, true},
		{"trait nested missing", Cond{Field: "traits.address.country", Exists: &yes}, nil, false},
		{"trait index", Cond{Field: "traits.tags.1", Eq: "newsletter"}, nil, true},
		{"trait index out of range", Cond{Field: "traits.tags.5", Exists: &yes}, nil, false},
		{"trait under a scalar", Cond{Field: "traits.email.x", Exists: &yes}, nil, false},
		{"trait missing", Cond{Field: "traits.plan", Eq: "pro"}, nil, false},
		{"trait null map", Cond{Field: "traits.plan", Exists: &no}, bare(), true},
		{"preference", Cond{Field: "psychographic.preferences.channel", Eq: "email"}, nil, true},
		{"top level", Cond{Field: "tenant", Eq: "acme"}, nil, true},
		{"rfm segment", Cond{Field: "derived.rfm.segment", In: []any{"411", "555"}}, nil, true},
		{"rfm missing", Cond{Field: "derived.rfm.recency", Gte: 1}, bare(), false},

		{"all", Cond{All: []Cond{{Field: "derived.lifecycle", Eq: "new"}, {Field: "transactional.orders", Gt: 0}}}, nil, true},
		{"all one false", Cond{All: []Cond{{Field: "derived.lifecycle", Eq: "new"}, {Field: "transactional.orders", Gt: 1}}}, nil, false},
		{"any", Cond{Any: []Cond{{Field: "derived.lifecycle", Eq: "churned"}, {Field: "transactional.orders", Gt: 0}}}, nil, true},
		{"any none", Cond{Any: []Cond{{Field: "derived.lifecycle", Eq: "churned"}, {Field: "transactional.orders", Gt: 1}}}, nil, false},
		{"not", Cond{Not: &Cond{Field: "derived.lifecycle", Eq: "new"}}, nil, false},
		{"not of missing comparison is true", Cond{Not: &Cond{Field: "psychographic.nps.score", Gt: 5}}, bare(), true},
		{"not exists", Cond{Not: &Cond{Field: "behavioral.channels.web", Exists: &yes}}, bare(), true},
		{"nested", Cond{Any: []Cond{
			{All: []Cond{{Field: "derived.lifecycle", Eq: "at_risk"}, {Field: "transactional.lifetime_value_reporting", Gt: 500}}},
			{Not: &Cond{Any: []Cond{{Field: "demographic.country", Eq: "DE"}, {Field: "demographic.country", Eq: "AT"}}}},
		}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := compileOne(t, tt.c)
			p := tt.p
			if p == nil {
				p = sample()
			}
			if got := g.Contains(p, now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWithinBounds(t *testing.T) {
	nps := at("2026-03-02T16:00:00Z")
	within := compileOne(t, Cond{Field: "psychographic.nps.at", Within: "1d"})
	older := compileOne(t, Cond{Field: "psychographic.nps.at", OlderThan: "1d"})
	for _, tt := range []struct {
		now           time.Time
		within, older bool
	}{
		{nps.Add(-time.Nanosecond), false, false}, // in the future
		{nps, true, false},
		{nps.Add(24*time.Hour - time.Nanosecond), true, false},
		{nps.Add(24 * time.Hour), false, true},
		{nps.Add(1000 * time.Hour), false, true},
	} {
		if got := within.Contains(sample(), tt.now); got != tt.within {
			t.Errorf("within at %s: %v, want %v", tt.now, got, tt.within)
		}
		if got := older.Contains(sample(), tt.now); got != tt.older {
			t.Errorf("older_than at %s: %v, want %v", tt.now, got, tt.older)
		}
	}
}

func TestEvaluate(t *testing.T) {
	s, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	nps := at("2026-03-02T16:00:00Z")
	atRisk := func(p *profile.Profile) *profile.Profile {
		p.Derived.Lifecycle = "at_risk"
		p.Transactional.LifetimeValueReporting = 1200
		return p
	}
	storeOnly := func(p *profile.Profile) *profile.Profile {
		delete(p.Behavioral.Channels, "web")
		delete(p.Behavioral.Channels, "mobile")
		return p
	}
	tests := []struct {
		name    string
		p       *profile.Profile
		now     time.Time
		members []string
		next    time.Time
	}{
		{"detractor", sample(), now, []string{"recent_detractors"}, nps.Add(30 * 24 * time.Hour)},
		{"detractor long ago", sample(), nps.Add(31 * 24 * time.Hour), nil, time.Time{}},
		{"detractor in the future", sample(), nps.Add(-time.Hour), nil, nps},
		{"vip at risk", atRisk(sample()), now, []string{"recent_detractors", "vip", "vip_at_risk"}, nps.Add(30 * 24 * time.Hour)},
		{"store only", storeOnly(sample()), now, []string{"recent_detractors", "store_only"}, nps.Add(30 * 24 * time.Hour)},
		{"bare", bare(), now, nil, time.Time{}},
		{"nil", nil, now, nil, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			members, next := s.Evaluate(tt.p, tt.now)
			if !slices.Equal(members, tt.members) {
				t.Errorf("members %v, want %v", members, tt.members)
			}
			if !next.Equal(tt.next) {
				t.Errorf("next %s, want %s", next, tt.next)
			}
		})
	}
}

// TestNext checks that next counts only the flips that change a segment's
// result, and takes the earliest over all segments.
func TestNext(t *testing.T) {
	nps := at("2026-03-02T16:00:00Z")  // psychographic.nps.at
	seen := at("2026-03-02T16:00:00Z") // behavioral.last_seen
	day := 24 * time.Hour
	one := func(c Cond) []Spec { return []Spec{{Name: "s", When: c}} }
	tests := []struct {
		name  string
		specs []Spec
		now   time.Time
		next  time.Time
	}{
		{"within ends", one(Cond{Field: "psychographic.nps.at", Within: "30d"}), now, nps.Add(30 * day)},
		{"older_than begins", one(Cond{Field: "behavioral.last_seen", OlderThan: "60d"}), now, seen.Add(60 * day)},
		{"older_than already", one(Cond{Field: "behavioral.last_seen", OlderThan: "1d"}), now, time.Time{}},
		{"within over", one(Cond{Field: "behavioral.last_seen", Within: "1d"}), now, time.Time{}},
		{"blocked by another condition", one(Cond{All: []Cond{
			{Field: "derived.lifecycle", Eq: "churned"},
			{Field: "psychographic.nps.at", Within: "30d"},
		}}), now, time.Time{}},
		{"kept by another condition", one(Cond{Any: []Cond{
			{Field: "derived.lifecycle", Eq: "new"},
			{Field: "psychographic.nps.at", Within: "30d"},
		}}), now, time.Time{}},
		{"window: in, then out", one(Cond{All: []Cond{
			{Field: "psychographic.nps.at", OlderThan: "20d"},
			{Field: "psychographic.nps.at", Within: "40d"},
		}}), now, nps.Add(20 * day)},
		{"flip that flips back at once", one(Cond{Any: []Cond{
			{Field: "psychographic.nps.at", Within: "30d"},
			{Field: "psychographic.nps.at", OlderThan: "30d"},
		}}), now, time.Time{}},
		{"second flip counts", one(Cond{All: []Cond{
			{Field: "psychographic.nps.at", OlderThan: "30d"},
			{Field: "transactional.last_order_at", OlderThan: "25d"}, // flips first, but the segment stays out
		}}), now, nps.Add(30 * day)},
		{"first flip counts", one(Cond{All: []Cond{
			{Field: "transactional.last_order_at", Within: "25d"},
			{Field: "behavioral.last_seen", OlderThan: "20d"},
		}}), now, seen.Add(20 * day)},
		{"earliest of segments", []Spec{
			{Name: "a", When: Cond{Field: "psychographic.nps.at", Within: "30d"}},
			{Name: "b", When: Cond{Field: "behavioral.last_seen", OlderThan: "20d"}},
			{Name: "c", When: Cond{Field: "transactional.last_order_at", Within: "40d"}},
		}, now, seen.Add(20 * day)},
		{"not", one(Cond{Not: &Cond{Field: "psychographic.nps.at", Within: "30d"}}), now, nps.Add(30 * day)},
		{"future time begins", one(Cond{Field: "psychographic.nps.at", Within: "1h"}), nps.Add(-day), nps},
		{"trait time", one(Cond{Field: "traits.signup", Within: "90d"}), now, at("2026-01-15T09:30:00Z").Add(90 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(tt.specs)
			if err != nil {
				t.Fatal(err)
			}
			before, next := s.Evaluate(sample(), tt.now)
			if !next.Equal(tt.next) {
				t.Fatalf("next %s, want %s", next, tt.next)
			}
			if next.IsZero() {
				return
			}
			if m, _ := s.Evaluate(sample(), next.Add(-time.Nanosecond)); !slices.Equal(m, before) {
				t.Errorf("membership changed before next: %v, then %v", before, m)
			}
			if m, _ := s.Evaluate(sample(), next); slices.Equal(m, before) {
				t.Errorf("membership %v unchanged at next", m)
			}
		})
	}
}

func TestParse(t *testing.T) {
	const doc = `
segments:
  - name: vip_at_risk            # [a-z0-9_]+, unique
    description: High-value customers drifting away
    purpose: marketing
    when:
      all:
        - {field: derived.lifecycle, eq: at_risk}
        - {field: transactional.lifetime_value_reporting, gt: 500}
  - name: recent_detractors
    when:
      all:
        - {field: psychographic.nps.score, lte: 6}
        - {field: psychographic.nps.at, within: 720h}
  - name: store_only
    when:
      all:
        - {field: behavioral.channels.store, gt: 0}
        - not: {field: behavioral.channels.web, exists: true}
        - not: {field: behavioral.channels.mobile, exists: true}
  - name: since_signup
    when: {field: traits.signup, gte: 2026-01-01T00:00:00Z}
  - name: birthday
    when: {field: traits.birthday, in: [1990-05-04, "1990-05-05"]}
`
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"birthday", "recent_detractors", "since_signup", "store_only", "vip_at_risk"}; !slices.Equal(s.Names(), want) {
		t.Errorf("names %v, want %v", s.Names(), want)
	}
	g, _ := s.Get("vip_at_risk")
	if g.Purpose() != "marketing" || g.Description() != "High-value customers drifting away" {
		t.Errorf("segment %+v", g)
	}
	p := sample()
	p.Traits["birthday"] = json.RawMessage(`"1990-05-04"`)
	if m, _ := s.Evaluate(p, now); !slices.Equal(m, []string{"birthday", "recent_detractors", "since_signup"}) {
		t.Errorf("members %v", m)
	}
	if s, err := Parse(nil); err != nil || s.Len() != 0 {
		t.Errorf("empty document: %v, %v", s, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"segments:\n  - name: a\n    when: {field: x, equals: 1}\n", `line 3: unknown key "equals" in a condition`},
		{"segments:\n  - name: a\n    when: {field: derived.lifecycle, eq: ~}\n", "line 3: eq: null is not a value"},
		{"segments:\n  - name: a\n    when: [1]\n", "line 3: a condition is a map"},
		{"segments:\n  - name: a\n    wen: {}\n", "field wen not found"},
		{"segmnts: []\n", "field segmnts not found"},
		{"segments:\n  - name: a\n    when: {field: traits.x, in: 5}\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the one error
	}{
		{"unknown field", Spec{Name: "vip_at_risk", When: Cond{All: []Cond{
			{Field: "derived.lifecycle", Eq: "at_risk"},
			{Field: "transactional.lifetime_valu", Gt: 500},
		}}}, []string{`segment "vip_at_risk"`, "when.all[1]", "field transactional.lifetime_valu", "unknown field: transactional has no lifetime_valu (it has orders, items", "lifetime_value_reporting"}},
		{"unknown top level", Spec{Name: "a", When: Cond{Field: "lifecycle", Eq: "new"}},
			[]string{`segment "a", when, field lifecycle: unknown field: the profile has no lifecycle (it has profile_id`}},
		{"provenance", Spec{Name: "a", When: Cond{Field: "provenance.x", Exists: &yes}}, []string{"field provenance.x: provenance is not part"}},
		{"field under a number", Spec{Name: "a", When: Cond{Field: "transactional.orders.x", Gt: 1}}, []string{"transactional.orders is a number and has no fields"}},
		{"field under a map value", Spec{Name: "a", When: Cond{Field: "behavioral.channels.web.x", Gt: 1}}, []string{"behavioral.channels.web is a number and has no fields"}},
		{"index into an array", Spec{Name: "a", When: Cond{Field: "merged_from.0", Eq: "x"}}, []string{"merged_from is an array and has no fields (test its elements with contains)"}},
		{"empty path part", Spec{Name: "a", When: Cond{Field: "derived..lifecycle", Eq: "x"}}, []string{"field derived..lifecycle: a field path is names joined by dots"}},
		{"gt on a text literal", Spec{Name: "a", When: Cond{Not: &Cond{Field: "transactional.orders", Gt: "five"}}}, []string{"when.not", "field transactional.orders", `gt: "five" is not a number or an RFC 3339 time`}},
		{"gt on a text field", Spec{Name: "a", When: Cond{Field: "derived.lifecycle", Gt: 5}}, []string{"gt: compares numbers, but derived.lifecycle is a text"}},
		{"gt time on a number", Spec{Name: "a", When: Cond{Field: "transactional.orders", Gt: "2026-01-01T00:00:00Z"}}, []string{"compares times, but transactional.orders is a number"}},
		{"within on a number", Spec{Name: "a", When: Cond{Any: []Cond{{Field: "transactional.orders", Within: "30d"}}}}, []string{"when.any[0]", "within: needs a time, but transactional.orders is a number"}},
		{"within bad duration", Spec{Name: "a", When: Cond{Field: "psychographic.nps.at", Within: "a month"}}, []string{`within: "a month" is not a duration`}},
		{"within zero", Spec{Name: "a", When: Cond{Field: "psychographic.nps.at", OlderThan: "0d"}}, []string{`older_than: "0d" must be positive`}},
		{"within negative", Spec{Name: "a", When: Cond{Field: "psychographic.nps.at", Within: "-5h"}}, []string{`must be positive`}},
		{"within too long", Spec{Name: "a", When: Cond{Field: "psychographic.nps.at", Within: "99999999999999999999d"}}, []string{`longer than 36500d`}},
		{"eq number on a text", Spec{Name: "a", When: Cond{Field: "derived.lifecycle", Eq: 3}}, []string{"eq: derived.lifecycle is a text, and 3 is a number"}},
		{"eq text on a number", Spec{Name: "a", When: Cond{Field: "transactional.lifetime_value_reporting", Eq: "500"}}, []string{`eq: transactional.lifetime_value_reporting is a number, and "500" is a text`}},
		{"eq text on a time", Spec{Name: "a", When: Cond{Field: "behavioral.last_seen", Eq: "yesterday"}}, []string{`behavioral.last_seen is a time, and "yesterday" is not an RFC 3339 time`}},
		{"eq on an array", Spec{Name: "a", When: Cond{Field: "identifiers.email", Eq: "a@b.c"}}, []string{"identifiers.email is an array: test its elements with contains"}},
		{"eq on an object", Spec{Name: "a", When: Cond{Field: "psychographic.nps", Eq: 5}}, []string{"psychographic.nps is an object"}},
		{"in item type", Spec{Name: "a", When: Cond{Field: "psychographic.consent.marketing", In: []any{true, "yes"}}}, []string{`in: psychographic.consent.marketing is a boolean, and "yes" is a text`}},
		{"in empty", Spec{Name: "a", When: Cond{Field: "derived.lifecycle", In: []any{}}}, []string{"in: give a list of at least one value"}},
		{"in null item", Spec{Name: "a", When: Cond{Field: "derived.lifecycle", In: []any{nil}}}, []string{"in: null is not a value"}},
		{"eq a list", Spec{Name: "a", When: Cond{Field: "traits.x", Eq: []any{1}}}, []string{"eq: a list is not a number"}},
		{"eq NaN", Spec{Name: "a", When: Cond{Field: "traits.x", Eq: nan()}}, []string{"eq: NaN is not a value"}},
		{"contains on a text", Spec{Name: "a", When: Cond{Field: "demographic.email", Contains: "@"}}, []string{"contains: demographic.email is a text, not an array"}},
		{"two operators", Spec{Name: "a", When: Cond{Field: "transactional.orders", Gt: 1, Lt: 5}}, []string{"field transactional.orders: give exactly one operator or combinator, got gt and lt"}},
		{"no operator", Spec{Name: "a", When: Cond{Field: "transactional.orders"}}, []string{"field transactional.orders: no operator"}},
		{"operator without field", Spec{Name: "a", When: Cond{Gt: 1}}, []string{`segment "a", when: gt needs a field`}},
		{"empty condition", Spec{Name: "a"}, []string{`segment "a", when: empty`}},
		{"empty all", Spec{Name: "a", When: Cond{All: []Cond{}}}, []string{"when.all: give at least one condition"}},
		{"field on all", Spec{Name: "a", When: Cond{Field: "x", All: []Cond{{Field: "tenant", Eq: "x"}}}}, []string{"all combines conditions and takes no field"}},
		{"empty not", Spec{Name: "a", When: Cond{Not: &Cond{}}}, []string{"when.not: empty"}},
		{"bad name", Spec{Name: "VIP", When: Cond{Field: "tenant", Eq: "x"}}, []string{`segment segments[0], name: "VIP": required`}},
		{"bad purpose", Spec{Name: "a", Purpose: " marketing", When: Cond{Field: "tenant", Eq: "x"}}, []string{`segment "a", purpose:`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]Spec{tt.spec})
			if err == nil {
				t.Fatal("compiled")
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d errors: %v", n, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func nan() float64 { return math.NaN() }

func TestCompileErrorsJoined(t *testing.T) {
	_, err := Compile([]Spec{
		{Name: "a", When: Cond{Field: "nope", Eq: 1}},
		{Name: "a", When: Cond{All: []Cond{{Field: "tenant", Gt: 1}, {Field: "version", Eq: "x"}}}},
	})
	var e *Error
	if err == nil || !errors.As(err, &e) || e.Segment != `"a"` || e.Cond != "when" || e.Field != "nope" {
		t.Fatalf("error %v (%+v)", err, e)
	}
	for _, w := range []string{"a second segment of this name", "when.all[0], field tenant", "when.all[1], field version"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestDefault(t *testing.T) {
	s, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"recent_detractors", "store_only", "vip", "vip_at_risk"}; !slices.Equal(s.Names(), want) {
		t.Errorf("names %v, want %v", s.Names(), want)
	}
	// The defaults written out as YAML (as in the example configuration)
	// read back the same.
	b, err := yaml.Marshal(map[string]any{"segments": Default()})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, p := range []*profile.Profile{sample(), bare()} {
		m1, n1 := s.Evaluate(p, now)
		m2, n2 := back.Evaluate(p, now)
		if !slices.Equal(m1, m2) || !n1.Equal(n2) {
			t.Errorf("round trip: %v %s, then %v %s\n%s", m1, n1, m2, n2, b)
		}
	}
}

// TestEveryJSONPath walks the JSON form of a full profile: every path in
// it compiles and exists, so that the compiler's view of the profile
// follows profile.Profile.
func TestEveryJSONPath(t *testing.T) {
	p := sample()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	yes := true
	var walk func(path string, x any)
	n := 0
	walk = func(path string, x any) {
		if path != "" {
			n++
			g := compileOne(t, Cond{Field: path, Exists: &yes})
			if !g.Contains(p, now) {
				t.Errorf("%s does not exist", path)
			}
		}
		if m, ok := x.(map[string]any); ok && path != "traits" && path != "psychographic.preferences" {
			for k, v := range m {
				if _, ok := excluded[k]; ok && path == "" {
					continue
				}
				walk(strings.TrimPrefix(path+"."+k, "."), v)
			}
		}
	}
	walk("", doc)
	if n < 60 {
		t.Errorf("only %d paths", n)
	}
}

func TestCondition(t *testing.T) {
	s, err := Parse([]byte(`
segments:
  - name: a
    when:
      all:
        - {field: derived.lifecycle, eq: at_risk}
        - {field: transactional.lifetime_value_reporting, gt: 500}
        - any: [{field: psychographic.nps.at, within: 30d}, {field: traits.plan, in: [pro, "two words"]}]
        - not: {field: behavioral.channels.web, exists: true}
        - not: {any: [{field: demographic.country, ne: ""}, {field: identifiers.email, contains: a@b.c}]}
  - name: b
    when: {field: behavioral.last_seen, older_than: 1d12h}
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"a": `derived.lifecycle = at_risk and transactional.lifetime_value_reporting > 500 and ` +
			`(psychographic.nps.at within 30d or traits.plan in [pro, "two words"]) and ` +
			`not behavioral.channels.web exists and not (demographic.country != "" or identifiers.email contains a@b.c)`,
		"b": "behavioral.last_seen older than 1d12h",
	} {
		g, _ := s.Get(name)
		if got := g.Condition(); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}
