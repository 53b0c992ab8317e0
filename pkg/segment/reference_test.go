package segment

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pkg/profile"
)

// The reference evaluates segments as written (Spec) on the JSON form of a
// profile, decoded into maps, the plain way the documentation reads.

const day = 24 * time.Hour

// refDurations are the durations the random segments use, read by hand.
var refDurations = map[string]time.Duration{
	"30d": 30 * day, "720h": 720 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "7d": 7 * day, "90d": 90 * day,
}

func refLookup(doc map[string]any, path string) (any, bool) {
	var x any = doc
	for _, k := range strings.Split(path, ".") {
		switch c := x.(type) {
		case map[string]any:
			x = c[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			x = c[i]
		default:
			return nil, false
		}
	}
	return x, x != nil
}

func refTime(x any) (time.Time, bool) {
	s, ok := x.(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

func refNumber(x any) (float64, bool) {
	switch x := x.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

func refEqual(x, lit any) bool {
	if a, ok := refNumber(x); ok {
		b, ok := refNumber(lit)
		return ok && a == b
	}
	switch x := x.(type) {
	case bool:
		b, ok := lit.(bool)
		return ok && x == b
	case string:
		s, ok := lit.(string)
		if !ok {
			return false
		}
		if lt, ok := refTime(s); ok {
			xt, ok := refTime(x)
			return ok && xt.Equal(lt)
		}
		return x == s
	}
	return false
}

func refEval(c *Cond, doc map[string]any, now time.Time) bool {
	switch {
	case c.All != nil:
		for i := range c.All {
			if !refEval(&c.All[i], doc, now) {
				return false
			}
		}
		return true
	case c.Any != nil:
		for i := range c.Any {
			if refEval(&c.Any[i], doc, now) {
				return true
			}
		}
		return false
	case c.Not != nil:
		return !refEval(c.Not, doc, now)
	}
	x, ok := refLookup(doc, c.Field)
	if c.Exists != nil {
		return ok == *c.Exists
	}
	if !ok {
		return false
	}
	order := func(lit any, holds func(int) bool) bool {
		if b, ok := refNumber(lit); ok {
			a, ok := refNumber(x)
			return ok && holds(cmpFloat(a, b))
		}
		lt, _ := refTime(lit)
		xt, ok := refTime(x)
		return ok && holds(xt.Compare(lt))
	}
	switch {
	case c.Eq != nil:
		return refEqual(x, c.Eq)
	case c.Ne != nil:
		return !refEqual(x, c.Ne)
	case c.In != nil:
		return slices.ContainsFunc(c.In, func(l any) bool { return refEqual(x, l) })
	case c.Gt != nil:
		return order(c.Gt, func(c int) bool { return c > 0 })
	case c.Gte != nil:
		return order(c.Gte, func(c int) bool { return c >= 0 })
	case c.Lt != nil:
		return order(c.Lt, func(c int) bool { return c < 0 })
	case c.Lte != nil:
		return order(c.Lte, func(c int) bool { return c <= 0 })
	case c.Contains != nil:
		arr, _ := x.([]any)
		return slices.ContainsFunc(arr, func(e any) bool { return refEqual(e, c.Contains) })
	case c.Within != "":
		t, ok := refTime(x)
		return ok && !now.Before(t) && now.Sub(t) < refDurations[c.Within]
	case c.OlderThan != "":
		t, ok := refTime(x)
		return ok && now.Sub(t) >= refDurations[c.OlderThan]
	}
	panic("no operator")
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func refMembers(specs []Spec, doc map[string]any, now time.Time) []string {
	var names []string
	for i := range specs {
		if refEval(&specs[i].When, doc, now) {
			names = append(names, specs[i].Name)
		}
	}
	slices.Sort(names)
	return names
}

// refNext tries every instant at which some time condition flips, in order.
func refNext(specs []Spec, doc map[string]any, now time.Time) time.Time {
	var instants []time.Time
	var walk func(c *Cond)
	walk = func(c *Cond) {
		for i := range c.All {
			walk(&c.All[i])
		}
		for i := range c.Any {
			walk(&c.Any[i])
		}
		if c.Not != nil {
			walk(c.Not)
		}
		x, _ := refLookup(doc, c.Field)
		t, ok := refTime(x)
		switch {
		case !ok:
		case c.Within != "":
			instants = append(instants, t, t.Add(refDurations[c.Within]))
		case c.OlderThan != "":
			instants = append(instants, t.Add(refDurations[c.OlderThan]))
		}
	}
	for i := range specs {
		walk(&specs[i].When)
	}
	slices.SortFunc(instants, time.Time.Compare)
	members := refMembers(specs, doc, now)
	for _, t := range instants {
		if t.After(now) && !slices.Equal(refMembers(specs, doc, t), members) {
			return t
		}
	}
	return time.Time{}
}

// gen makes random profiles and segments.
type gen struct {
	r    *rand.Rand
	base time.Time
}

func (g *gen) pick(xs ...any) any { return xs[g.r.IntN(len(xs))] }

func (g *gen) when() time.Time {
	return g.base.Add(time.Duration(g.r.Int64N(int64(120*day))) - 60*day).Truncate(time.Millisecond)
}

func (g *gen) profile() *profile.Profile {
	p := bare()
	p.Derived.Lifecycle = g.pick("", "new", "active", "at_risk", "churned").(string)
	p.Transactional.LifetimeValueReporting = g.pick(0.0, 49.45, 500.0, 500.01, 1200.0, float64(g.r.IntN(2000))).(float64)
	p.Transactional.Orders = int64(g.r.IntN(4))
	for _, ch := range []string{"web", "mobile", "store", "email"} {
		if g.r.IntN(2) == 0 {
			p.Behavioral.Channels[ch] = int64(g.r.IntN(5))
		}
	}
	p.Behavioral.FirstSeen, p.Behavioral.LastSeen = g.when(), g.when()
	if g.r.IntN(3) > 0 {
		p.Psychographic.NPS = &profile.Score{Score: float64(g.r.IntN(11)), At: g.when(), Channel: "email"}
	}
	if g.r.IntN(2) == 0 {
		t := g.when()
		p.Transactional.LastOrderAt = &t
	}
	if g.r.IntN(2) == 0 {
		p.Psychographic.Consent = map[string]bool{"marketing": g.r.IntN(2) == 0}
	}
	p.Demographic.Country = g.pick("", "DE", "AT").(string)
	if g.r.IntN(3) > 0 {
		p.Traits = map[string]json.RawMessage{}
		for k, v := range map[string]string{
			"plan": `"` + g.pick("pro", "free").(string) + `"`, "points": strconv.Itoa(g.r.IntN(200)),
			"tags": g.pick(`["gold",3]`, `[]`, `["new"]`).(string), "vip": g.pick("true", "false").(string),
			"signup": `"` + g.when().Format(time.RFC3339Nano) + `"`, "address": `{"city":"Berlin"}`, "gone": "null",
		} {
			if g.r.IntN(2) == 0 {
				p.Traits[k] = json.RawMessage(v)
			}
		}
	}
	switch g.r.IntN(3) {
	case 0:
		p.MergedFrom = []string{}
	case 1:
		p.MergedFrom = []string{"m1", "m2"}
	}
	if g.r.IntN(2) == 0 {
		p.Identifiers = map[string][]string{"email": {"jane@example.com"}}
	}
	if g.r.IntN(2) == 0 {
		p.Derived.RFM = &profile.RFM{Recency: 1 + g.r.IntN(5), Frequency: 3, Monetary: 2, Segment: "132"}
	}
	return p
}

// refFields are the fields the random segments test, with what they hold:
// number, text, bool, time, array, object or any (JSON).
var refFields = []struct{ path, kind string }{
	{"derived.lifecycle", "text"}, {"transactional.lifetime_value_reporting", "number"}, {"transactional.orders", "number"},
	{"behavioral.channels.web", "number"}, {"behavioral.channels.store", "number"}, {"behavioral.channels.mobile", "number"},
	{"behavioral.first_seen", "time"}, {"behavioral.last_seen", "time"}, {"psychographic.nps", "object"},
	{"psychographic.nps.score", "number"}, {"psychographic.nps.at", "time"}, {"transactional.last_order_at", "time"},
	{"psychographic.consent.marketing", "bool"}, {"demographic.country", "text"}, {"traits", "object"},
	{"traits.plan", "any"}, {"traits.points", "any"}, {"traits.tags", "any"}, {"traits.tags.0", "any"}, {"traits.vip", "any"},
	{"traits.signup", "any"}, {"traits.address.city", "any"}, {"traits.gone", "any"}, {"merged_from", "array"},
	{"identifiers.email", "array"}, {"derived.rfm", "object"}, {"derived.rfm.recency", "number"}, {"derived.rfm.segment", "text"},
}

func (g *gen) literal(kind string) any {
	if g.r.IntN(8) == 0 {
		kind = "any" // a literal of any type: compile errors and mismatches
	}
	switch kind {
	case "any":
		kind = g.pick("number", "text", "bool", "time").(string)
	case "array", "object":
		kind = g.pick("number", "text").(string)
	}
	switch kind {
	case "number":
		return g.pick(0, 1, 3, 5, 6, 49.45, 500, 1000, -1, 132)
	case "text":
		return g.pick("", "new", "at_risk", "DE", "pro", "gold", "m1", "jane@example.com", "Berlin", "132")
	case "bool":
		return g.pick(true, false)
	}
	return g.when().Format(time.RFC3339Nano)
}

func (g *gen) cond(depth int) Cond {
	if depth < 3 && g.r.IntN(3) == 0 {
		kids := make([]Cond, 1+g.r.IntN(3))
		for i := range kids {
			kids[i] = g.cond(depth + 1)
		}
		switch g.r.IntN(3) {
		case 0:
			return Cond{All: kids}
		case 1:
			return Cond{Any: kids}
		}
		return Cond{Not: &kids[0]}
	}
	f := refFields[g.r.IntN(len(refFields))]
	c := Cond{Field: f.path}
	durations := []string{"30d", "720h", "1d12h", "90m", "7d"}
	ops := map[string][]int{
		"number": {0, 1, 2, 3, 4, 5, 6, 7}, "text": {0, 1, 2, 7}, "bool": {0, 1, 2, 7},
		"time": {0, 3, 4, 5, 6, 7, 9, 10, 9, 10, 9, 10}, "array": {7, 8}, "object": {7},
		"any": {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
	}[f.kind]
	op := ops[g.r.IntN(len(ops))]
	if g.r.IntN(10) == 0 {
		op = g.r.IntN(11)
	}
	switch op {
	case 0:
		c.Eq = g.literal(f.kind)
	case 1:
		c.Ne = g.literal(f.kind)
	case 2:
		c.In = []any{g.literal(f.kind), g.literal(f.kind)}
	case 3:
		c.Gt = g.literal(f.kind)
	case 4:
		c.Gte = g.literal(f.kind)
	case 5:
		c.Lt = g.literal(f.kind)
	case 6:
		c.Lte = g.literal(f.kind)
	case 7:
		b := g.r.IntN(2) == 0
		c.Exists = &b
	case 8:
		c.Contains = g.literal(f.kind)
	case 9:
		c.Within = durations[g.r.IntN(len(durations))]
	default:
		c.OlderThan = durations[g.r.IntN(len(durations))]
	}
	return c
}

// TestReference compares Evaluate with the reference on random profiles
// and segments: the members, next, and that no membership changes between
// now and next.
func TestReference(t *testing.T) {
	g := &gen{r: rand.New(rand.NewPCG(1, 2)), base: now}
	compiled, withNext := 0, 0
	for i := range 20000 {
		specs := make([]Spec, 1+g.r.IntN(4))
		for j := range specs {
			specs[j] = Spec{Name: fmt.Sprintf("s%d", j), When: g.cond(0)}
		}
		s, err := Compile(specs)
		if err != nil {
			continue
		}
		compiled++
		p := g.profile()
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		at := g.when()
		members, next := s.Evaluate(p, at)
		want, wantNext := refMembers(specs, doc, at), refNext(specs, doc, at)
		if !slices.Equal(members, want) || !next.Equal(wantNext) {
			y, _ := yaml.Marshal(specs)
			t.Fatalf("case %d at %s: members %v next %s, reference %v next %s\nsegments:\n%s\nprofile %s",
				i, at, members, next, want, wantNext, y, b)
		}
		if next.IsZero() {
			continue
		}
		withNext++
		// Between now and next nothing changes, whatever instant is tried.
		for range 3 {
			x := at.Add(time.Duration(g.r.Int64N(int64(next.Sub(at)))))
			if m := refMembers(specs, doc, x); !slices.Equal(m, want) {
				y, _ := yaml.Marshal(specs)
				t.Fatalf("case %d: members %v at %s before next %s, %v at %s\nsegments:\n%s\nprofile %s", i, m, x, next, want, at, y, b)
			}
		}
	}
	if compiled < 8000 || withNext < 500 {
		t.Errorf("only %d of the random segment lists compiled, %d with a next", compiled, withNext)
	}
	t.Logf("%d segment lists compiled, %d with a next", compiled, withNext)
}
