package segment

import (
	"encoding/json"
	"testing"
)

// benchSegments are ten segments of mixed conditions: the defaults and six
// more over maps, traits, arrays, times and combinators.
func benchSegments() []Spec {
	yes := true
	return append(Default(),
		Spec{Name: "german_speakers", When: Cond{Any: []Cond{
			{Field: "demographic.country", In: []any{"DE", "AT", "CH"}},
			{Field: "demographic.locale", Eq: "de-DE"},
		}}},
		Spec{Name: "pro_plan", When: Cond{All: []Cond{
			{Field: "traits.plan", Eq: "pro"},
			{Field: "traits.loyalty_points", Gte: 50},
		}}},
		Spec{Name: "gold_tagged", When: Cond{Field: "traits.tags", Contains: "gold"}},
		Spec{Name: "lapsed_buyers", When: Cond{All: []Cond{
			{Field: "transactional.orders", Gte: 1},
			{Field: "transactional.last_order_at", OlderThan: "90d"},
			{Not: &Cond{Field: "derived.lifecycle", Eq: "churned"}},
		}}},
		Spec{Name: "marketing_reachable", When: Cond{All: []Cond{
			{Field: "psychographic.consent.marketing", Eq: true},
			{Field: "identifiers.email", Exists: &yes},
		}}},
		Spec{Name: "unhappy", When: Cond{Any: []Cond{
			{Field: "psychographic.csat.score", Lte: 2},
			{Field: "psychographic.sentiment.label", Eq: "negative"},
			{Field: "psychographic.nps.score", Lt: 7},
		}}},
	)
}

func BenchmarkEvaluate(b *testing.B) {
	s, err := Compile(benchSegments())
	if err != nil {
		b.Fatal(err)
	}
	p := sample()
	p.Traits["plan"] = json.RawMessage(`"pro"`)
	if m, next := s.Evaluate(p, now); len(m) < 4 || next.IsZero() {
		b.Fatalf("members %v, next %s", m, next)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(p, now)
	}
}

// BenchmarkEvaluateJSON is the alternative measured for the design: the
// same segments on the profile's JSON form (marshalled and decoded into
// maps, as a consumer of cx.profiles would hold it), by the reference
// evaluator.
func BenchmarkEvaluateJSON(b *testing.B) {
	specs := benchSegments()
	p := sample()
	p.Traits["plan"] = json.RawMessage(`"pro"`)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ := json.Marshal(p)
		var doc map[string]any
		json.Unmarshal(buf, &doc)
		refMembers(specs, doc, now)
		refNext(specs, doc, now)
	}
}
