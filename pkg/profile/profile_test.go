package profile

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/golden"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testModel converts EUR and leaves JPY unconverted.
var testModel = func() *Model {
	c := DefaultConfig()
	c.Currency.Rates = map[string]float64{"EUR": 1.1}
	return c.MustCompile()
}()

var feedback = []string{
	"Great service, thank you!", "terrible wait, never again", "not bad at all",
	"El producto es excelente", "Der Versand war schlecht", "配送はとても速かったです", "👍👍", "ok",
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// randomEvent draws an event using every part of the fold. Times fall on
// whole days so that equal stamps need the tie-break. Each trait has its
// own mix of operations; see the package docs for the one combination left
// out (set_once both before and after an unset of the same trait).
func randomEvent(rng *rand.Rand, i int) *event.Event {
	channels := []string{"web", "mobile", "store", "call_center", "email"}
	types := []event.Type{event.TypeTrack, event.TypeTrack, event.TypeIdentify, event.TypePage, event.TypeScreen}
	names := []string{"Order Completed", "Order Refunded", "Product Viewed", "Survey Responded"}
	e := &event.Event{
		EventID:   fmt.Sprintf("e%d", i),
		Tenant:    "t",
		Channel:   channels[rng.IntN(len(channels))],
		Type:      types[rng.IntN(len(types))],
		EventTime: t0.Add(time.Duration(rng.IntN(60)) * 24 * time.Hour),
		Traits:    map[string]json.RawMessage{},
	}
	if e.Type != event.TypeIdentify {
		e.Name = names[rng.IntN(len(names))]
	}
	// plan: set, null, unset.
	switch rng.IntN(5) {
	case 0:
		e.Traits["plan"] = raw(fmt.Sprint("p", rng.IntN(4)))
	case 1:
		e.Traits["plan"] = json.RawMessage("null")
	case 2:
		e.TraitsUnset = []string{"plan"}
	}
	// source: set_once only; points: set, set_once and increments.
	if rng.IntN(4) == 0 {
		e.TraitsSetOnce = map[string]json.RawMessage{"source": raw(fmt.Sprint("s", rng.IntN(3)))}
	}
	switch rng.IntN(6) {
	case 0:
		e.Traits["points"] = raw(100 * rng.IntN(3))
	case 1:
		if e.TraitsSetOnce == nil {
			e.TraitsSetOnce = map[string]json.RawMessage{}
		}
		e.TraitsSetOnce["points"] = raw(7)
	case 2, 3:
		e.TraitsIncrement = map[string]json.Number{"points": json.Number(fmt.Sprintf("%d.%d", rng.IntN(20)-5, rng.IntN(10)))}
	}
	if rng.IntN(6) == 0 {
		e.Traits["name"] = raw([]string{"Jane Doe", "Jane D."}[rng.IntN(2)])
		e.Traits["address"] = raw(map[string]string{"country": "DE", "city": []string{"Berlin", "Hamburg"}[rng.IntN(2)]})
	}
	if rng.IntN(6) == 0 {
		e.Traits["preferences"] = raw(map[string]any{"channel": []string{"email", "sms"}[rng.IntN(2)]})
		e.Traits["consent"] = raw(map[string]bool{"marketing": rng.IntN(2) == 0})
	}
	ctx := map[string]any{}
	if rng.IntN(3) == 0 {
		ctx["locale"] = []string{"de-DE", "en-GB"}[rng.IntN(2)]
		ctx["location"] = map[string]string{"country": "FR", "city": "Lyon"}
	}
	if rng.IntN(5) == 0 {
		ctx["consent"] = map[string]any{"categoryPreferences": map[string]bool{"marketing": rng.IntN(2) == 0, "analytics": true}}
	}
	if rng.IntN(2) == 0 {
		ctx["session_id"] = fmt.Sprint("sess-", rng.IntN(5))
	}
	props := map[string]any{}
	switch e.Name {
	case "Order Completed", "Order Refunded":
		props["revenue"] = []any{19.99, "5.5", 100, "n/a"}[rng.IntN(4)]
		props["currency"] = []string{"USD", "eur", "JPY", "??"}[rng.IntN(4)]
		props["products"] = []map[string]any{{"quantity": 1 + rng.IntN(3)}, {}}
	case "Survey Responded":
		props["nps"] = rng.IntN(12) // 11 is out of range
		props["csat"] = 1 + rng.IntN(5)
		props["feedback"] = feedback[rng.IntN(len(feedback))]
	}
	e.Context, e.Properties = raw(ctx), raw(props)
	if len(e.Traits) == 0 {
		e.Traits = nil
	}
	return e
}

func randomEvents(rng *rand.Rand, n int) []*event.Event {
	events := make([]*event.Event, n)
	for i := range events {
		events[i] = randomEvent(rng, i)
	}
	return events
}

func fold(m *Model, events []*event.Event) State {
	s := State{}
	for _, e := range events {
		for _, u := range m.Updates(e) {
			s.Apply(u)
		}
	}
	return s
}

var testMeta = Meta{Version: 7, AsOf: t0.Add(75 * 24 * time.Hour), Provenance: true}

func render(t *testing.T, p *Profile) string {
	t.Helper()
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testSeed(t *testing.T) uint64 {
	if s := os.Getenv("CXSTREAM_TEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// The fold, in any order and however the events are split between profiles
// merged later in any order, renders what the sequential reference
// computes, byte for byte.
func TestFoldMatchesReference(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	for run := range 300 {
		events := randomEvents(rng, 1+rng.IntN(40))
		want := render(t, reference(testModel, "t", "p", events, testMeta))
		shuffled := append([]*event.Event(nil), events...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		folded := fold(testModel, shuffled)
		if got := render(t, testModel.Render("t", "p", folded, testMeta)); got != want {
			t.Fatalf("seed %d run %d: fold differs from the reference\n got %s\nwant %s", seed, run, got, want)
		}
		parts := make([][]*event.Event, 1+rng.IntN(4))
		for _, e := range shuffled {
			k := rng.IntN(len(parts))
			parts[k] = append(parts[k], e)
		}
		merged := State{}
		for _, k := range rng.Perm(len(parts)) {
			merged.Merge(fold(testModel, parts[k]))
		}
		if !maps.Equal(merged, folded) {
			t.Fatalf("seed %d run %d: merging changed the state\n got %v\nwant %v", seed, run, merged, folded)
		}
		// Merging a state into itself changes nothing but the sums.
		again := maps.Clone(folded)
		again.Merge(folded)
		for f, v := range folded {
			if f[0] != prefixAdd && f[0] != prefixCounter && again[f] != v {
				t.Fatalf("seed %d: merge is not idempotent for %s: %s vs %s", seed, f, again[f], v)
			}
		}
	}
}

func TestLaterEventWinsWhateverTheArrival(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	newer := &event.Event{EventID: "b", Channel: "store", Type: event.TypeIdentify, EventTime: at.Add(time.Minute),
		Traits: map[string]json.RawMessage{"city": json.RawMessage(`"Paris"`)}}
	older := &event.Event{EventID: "a", Channel: "web", Type: event.TypeIdentify, EventTime: at,
		Traits: map[string]json.RawMessage{"city": json.RawMessage(`"Lyon"`)}}
	p := Default().Render("t", "p", fold(Default(), []*event.Event{newer, older}), Meta{AsOf: at, Provenance: true}) // the older arrives late
	if string(p.Traits["city"]) != `"Paris"` || p.Behavioral.LastChannel != "store" {
		t.Errorf("late event overwrote newer data: city=%s last_channel=%s", p.Traits["city"], p.Behavioral.LastChannel)
	}
	if src := p.Provenance["traits.city"]; src.EventID != "b" || src.Channel != "store" || !src.EventTime.Equal(at.Add(time.Minute)) {
		t.Errorf("provenance of city = %+v, want event b", src)
	}
}

// Trait operations, each order of arrival giving the sequential answer.
func TestTraitOperations(t *testing.T) {
	at := func(d int) time.Time { return t0.Add(time.Duration(d) * time.Hour) }
	ev := func(id string, d int, f func(*event.Event)) *event.Event {
		e := &event.Event{EventID: id, Channel: "web", Type: event.TypeIdentify, EventTime: at(d)}
		f(e)
		return e
	}
	set := func(k, v string) func(*event.Event) {
		return func(e *event.Event) { e.Traits = map[string]json.RawMessage{k: json.RawMessage(v)} }
	}
	once := func(k, v string) func(*event.Event) {
		return func(e *event.Event) { e.TraitsSetOnce = map[string]json.RawMessage{k: json.RawMessage(v)} }
	}
	unset := func(k string) func(*event.Event) { return func(e *event.Event) { e.TraitsUnset = []string{k} } }
	inc := func(k, n string) func(*event.Event) {
		return func(e *event.Event) { e.TraitsIncrement = map[string]json.Number{k: json.Number(n)} }
	}
	cases := []struct {
		name   string
		events []*event.Event
		want   string // "" for absent
	}{
		{"set then set", []*event.Event{ev("a", 1, set("k", `"x"`)), ev("b", 2, set("k", `"y"`))}, `"y"`},
		{"set_once keeps the first", []*event.Event{ev("a", 1, once("k", `"x"`)), ev("b", 2, once("k", `"y"`))}, `"x"`},
		{"set_once after a set is ignored", []*event.Event{ev("a", 1, set("k", `"x"`)), ev("b", 2, once("k", `"y"`))}, `"x"`},
		{"set after set_once wins", []*event.Event{ev("a", 1, once("k", `"x"`)), ev("b", 2, set("k", `"y"`))}, `"y"`},
		{"unset removes", []*event.Event{ev("a", 1, set("k", `"x"`)), ev("b", 2, unset("k"))}, ""},
		{"set_once after unset applies", []*event.Event{ev("a", 1, set("k", `"x"`)), ev("b", 2, unset("k")), ev("c", 3, once("k", `"z"`))}, `"z"`},
		{"increments add", []*event.Event{ev("a", 1, inc("k", "2.5")), ev("b", 2, inc("k", "-1"))}, `1.5`},
		{"increment adds to a set", []*event.Event{ev("a", 1, set("k", "10")), ev("b", 2, inc("k", "5"))}, `15`},
		{"a set resets older increments", []*event.Event{ev("a", 1, inc("k", "5")), ev("b", 2, set("k", "100")), ev("c", 3, inc("k", "1"))}, `101`},
		{"increment after unset starts at 0", []*event.Event{ev("a", 1, set("k", "10")), ev("b", 2, unset("k")), ev("c", 3, inc("k", "3"))}, `3`},
		{"increment of a text counts from 0", []*event.Event{ev("a", 1, set("k", `"gold"`)), ev("b", 2, inc("k", "3"))}, `3`},
		{"set_once then increment", []*event.Event{ev("a", 1, once("k", "7")), ev("b", 2, inc("k", "1"))}, `8`},
		{"set_once after increment is ignored", []*event.Event{ev("a", 1, inc("k", "1")), ev("b", 2, once("k", "7"))}, `1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			perms := [][]*event.Event{c.events, reversed(c.events)}
			for _, events := range perms {
				p := Default().Render("t", "p", fold(Default(), events), Meta{AsOf: t0})
				if got := string(p.Traits["k"]); got != c.want {
					t.Errorf("arrival %v: k = %s, want %s", ids(events), got, c.want)
				}
			}
		})
	}
}

func reversed(es []*event.Event) []*event.Event {
	out := make([]*event.Event, len(es))
	for i, e := range es {
		out[len(es)-1-i] = e
	}
	return out
}

func ids(es []*event.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.EventID
	}
	return out
}

// More than CounterEntries increments: the oldest are summed in the floor,
// the value stays exact, and a set newer than the floor drops it.
func TestCounterFloor(t *testing.T) {
	var events []*event.Event
	for i := range 3 * CounterEntries {
		events = append(events, &event.Event{EventID: fmt.Sprint("i", i), Channel: "web", Type: event.TypeIdentify,
			EventTime: t0.Add(time.Duration(i) * time.Minute), TraitsIncrement: map[string]json.Number{"k": "1"}})
	}
	rng := rand.New(rand.NewPCG(1, 1))
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	s := fold(Default(), events)
	c := parseCounter(s[counterPrefix+"k"])
	if !c.hasFloor || len(c.entries) != CounterEntries || c.sum() != 3*CounterEntries*1e6 {
		t.Fatalf("counter: floor %v, %d entries, sum %d", c.hasFloor, len(c.entries), c.sum())
	}
	if got := string(Default().Render("t", "p", s, Meta{}).Traits["k"]); got != strconv.Itoa(3*CounterEntries) {
		t.Errorf("k = %s", got)
	}
	// A set newer than every floored increment: only the newer ones count.
	late := &event.Event{EventID: "set", Channel: "web", Type: event.TypeIdentify,
		EventTime: t0.Add(time.Duration(2*CounterEntries)*time.Minute + time.Second), Traits: map[string]json.RawMessage{"k": json.RawMessage("0")}}
	for _, u := range Default().Updates(late) {
		s.Apply(u)
	}
	if got := string(Default().Render("t", "p", s, Meta{}).Traits["k"]); got != strconv.Itoa(CounterEntries-1) {
		t.Errorf("after a late set, k = %s, want %d", got, CounterEntries-1)
	}
}

func TestFormatMicros(t *testing.T) {
	for m, want := range map[int64]string{0: "0", 1: "0.000001", 1500000: "1.5", -2500000: "-2.5", 1e6: "1", -1: "-0.000001", 123456789: "123.456789"} {
		if got := formatMicros(m); got != want {
			t.Errorf("formatMicros(%d) = %s, want %s", m, got, want)
		}
	}
}

func TestMoneyAndDerived(t *testing.T) {
	order := func(id string, day int, amount any, cur string) *event.Event {
		return &event.Event{EventID: id, Channel: "store", Type: event.TypeTrack, Name: "Order Completed",
			EventTime: t0.Add(time.Duration(day) * 24 * time.Hour),
			Properties: raw(map[string]any{"total": amount, "currency": cur,
				"products": []map[string]any{{"quantity": 2}, {"quantity": 1}}})}
	}
	refund := &event.Event{EventID: "r", Channel: "call_center", Type: event.TypeTrack, Name: "Order Refunded",
		EventTime: t0.Add(11 * 24 * time.Hour), Properties: raw(map[string]any{"total": 20, "currency": "EUR"})}
	events := []*event.Event{order("o1", 0, 100, "USD"), order("o2", 10, "120.50", "EUR"), order("o3", 12, 5000, "JPY"), refund}
	p := testModel.Render("t", "p", fold(testModel, events), Meta{AsOf: t0.Add(40 * 24 * time.Hour)})
	tr := p.Transactional
	if tr.Orders != 3 || tr.Items != 9 || tr.Refunds != 1 {
		t.Errorf("orders %d items %d refunds %d", tr.Orders, tr.Items, tr.Refunds)
	}
	if tr.Revenue["EUR"] != 120.5 || tr.LifetimeValue["EUR"] != 100.5 || tr.LifetimeValue["USD"] != 100 || tr.Revenue["JPY"] != 5000 {
		t.Errorf("per currency: revenue %v ltv %v", tr.Revenue, tr.LifetimeValue)
	}
	// 100 USD + 100.5 EUR * 1.1; JPY has no rate. Average order value:
	// (100 + 120.5 * 1.1) / 2 converted orders.
	if tr.LifetimeValueReporting != 210.55 || tr.AverageOrderValue != 116.28 || len(tr.Unconverted) != 1 || tr.Unconverted[0] != "JPY" {
		t.Errorf("reporting: ltv %v aov %v unconverted %v", tr.LifetimeValueReporting, tr.AverageOrderValue, tr.Unconverted)
	}
	// Last order 28 days before as_of: recency 4; 3 orders: frequency 3;
	// 210.55: monetary 2. Last seen 29 days ago: active, first seen 40 days
	// ago: not new.
	if p.Derived.RFM == nil || p.Derived.RFM.Segment != "432" || p.Derived.Lifecycle != "active" {
		t.Errorf("derived = %+v %+v", p.Derived, p.Derived.RFM)
	}
	// First seen on day 0, last seen on day 20.
	two := []*event.Event{order("a", 0, 1, "USD"), order("b", 20, 1, "USD")}
	for _, c := range []struct {
		days int
		want string
	}{{10, "new"}, {45, "active"}, {70, "at_risk"}, {130, "churned"}} {
		p := testModel.Render("t", "p", fold(testModel, two), Meta{AsOf: t0.Add(time.Duration(c.days) * 24 * time.Hour)})
		if p.Derived.Lifecycle != c.want {
			t.Errorf("on day %d: lifecycle %s, want %s", c.days, p.Derived.Lifecycle, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	c := DefaultConfig()
	c.Currency.Reporting = "usd"
	c.Currency.Rates = map[string]float64{"EUR": -1}
	c.Lifecycle.ChurnDays = 10
	c.RFM.Monetary = []float64{5, 1, 2, 3}
	_, err := c.Compile()
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"profile.currency.reporting", "profile.currency.rates.EUR", "profile.lifecycle.churn_days", "profile.rfm.monetary"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := DefaultConfig().Compile(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

// goldenEvents is one customer across every channel.
func goldenEvents() []*event.Event {
	h := func(n int) time.Time {
		return time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
	}
	return []*event.Event{
		{EventID: "e1", Channel: "web", Type: event.TypePage, Name: "Home", EventTime: h(0),
			Context: raw(map[string]any{"locale": "de-DE", "location": map[string]string{"country": "DE", "city": "Berlin"},
				"consent": map[string]any{"categoryPreferences": map[string]bool{"marketing": true, "advertising": false}}})},
		{EventID: "e2", Channel: "mobile", Type: event.TypeIdentify, EventTime: h(1),
			Traits: map[string]json.RawMessage{"name": raw("Jane Doe"), "email": raw("jane@example.com"), "fax": json.RawMessage("null"),
				"preferences": raw(map[string]string{"channel": "email"})},
			TraitsSetOnce: map[string]json.RawMessage{"first_source": raw("app")}},
		{EventID: "e3", Channel: "store", Type: event.TypeTrack, Name: "Order Completed", EventTime: h(2),
			Properties:      raw(map[string]any{"order_id": "o-1", "revenue": 89.9, "currency": "EUR", "products": []map[string]any{{"quantity": 2}}}),
			TraitsIncrement: map[string]json.Number{"loyalty_points": "90"}},
		{EventID: "e4", Channel: "call_center", Type: event.TypeTrack, Name: "Order Refunded", EventTime: h(26),
			Properties: raw(map[string]any{"order_id": "o-1", "total": 44.95, "currency": "EUR"})},
		{EventID: "e5", Channel: "email", Type: event.TypeTrack, Name: "Survey Responded", EventTime: h(30),
			Properties: raw(map[string]any{"nps": 6, "csat": 3, "feedback": "The delivery was late and the box was damaged"})},
	}
}

func TestProfileGolden(t *testing.T) {
	for _, c := range []struct {
		file       string
		provenance bool
	}{{"profile.golden.json", false}, {"profile_provenance.golden.json", true}} {
		t.Run(c.file, func(t *testing.T) {
			s := fold(testModel, goldenEvents())
			at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
			s.Apply(Update{IDField("email:jane@example.com"), strconv.FormatInt(at.UnixMilli(), 10)})
			s.Apply(Update{IDField("anonymous_id:a-1"), strconv.FormatInt(at.Add(-time.Hour).UnixMilli(), 10)})
			s.Apply(Update{MergedField("0b9a3c2e-0000-5000-8000-000000000002"), strconv.FormatInt(at.UnixMilli(), 10)})
			meta := Meta{Version: 42, AsOf: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), Provenance: c.provenance}
			golden.JSON(t, filepath.Join("testdata", c.file), testModel.Render("acme", "0b9a3c2e-0000-5000-8000-000000000001", s, meta))
		})
	}
}
