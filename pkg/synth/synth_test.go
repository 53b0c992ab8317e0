package synth_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/identity/identitytest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/synth"
	"github.com/cxstream/cxstream/pkg/tracking"
)

func config(people int) synth.Config {
	cfg := synth.Default()
	cfg.People = people
	cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return cfg
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := config(200)
	a, b := synth.Generate(cfg), synth.Generate(cfg)
	if len(a.Messages) != len(b.Messages) {
		t.Fatalf("%d vs %d messages", len(a.Messages), len(b.Messages))
	}
	for i := range a.Messages {
		ma, mb := a.Messages[i], b.Messages[i]
		if string(ma.JSON()) != string(mb.JSON()) || ma.Person != mb.Person || ma.Channel != mb.Channel || ma.Hazard != mb.Hazard || !ma.At.Equal(mb.At) {
			t.Fatalf("message %d differs:\n%+v\n%+v", i, ma, mb)
		}
	}
	if !reflect.DeepEqual(a.People, b.People) || !reflect.DeepEqual(a.Junk, b.Junk) || !reflect.DeepEqual(a.Shared, b.Shared) {
		t.Error("the ground truth differs between two runs with the same seed")
	}
	cfg.Seed = 2
	c := synth.Generate(cfg)
	if string(c.Messages[0].JSON()) == string(a.Messages[0].JSON()) {
		t.Error("another seed gave the same first message")
	}
	if reflect.DeepEqual(c.Shared, a.Shared) {
		t.Error("another seed gave the same households")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := synth.Default().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	for _, tt := range []struct {
		name   string
		change func(*synth.Config)
		want   string
	}{
		{"negative people", func(c *synth.Config) { c.People = -1 }, "people"},
		{"no span", func(c *synth.Config) { c.Span = 0 }, "span"},
		{"known share above 1", func(c *synth.Config) { c.KnownShare = 1.5 }, "known share"},
		{"negative junk share", func(c *synth.Config) { c.JunkShare = -0.1 }, "junk share"},
		{"NaN shared device share", func(c *synth.Config) { c.SharedDeviceShare = math.NaN() }, "shared device share"},
		{"second email share above 1", func(c *synth.Config) { c.SecondEmailShare = 2 }, "second email share"},
		{"phone-only share above 1", func(c *synth.Config) { c.PhoneOnlyShare = 1.01 }, "phone-only share"},
	} {
		cfg := synth.Default()
		tt.change(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
}

var policy = identity.MustCompile(identity.DefaultRules())

// envelope maps a message the way the collector does.
func envelope(t *testing.T, m synth.Message) *event.Event {
	t.Helper()
	msg, err := tracking.DecodeMessage(m.JSON())
	if err != nil {
		t.Fatal(err)
	}
	e, err := tracking.Map(msg, tracking.Source{Tenant: "demo", Channel: m.Channel}, m.At)
	if err == nil {
		lim := event.DefaultLimits()
		lim.Normalize = policy.Normalize
		err = tracking.Prepare(e, lim)
	}
	if err != nil {
		t.Fatalf("message of person %d on %s is invalid: %v\n%s", m.Person, m.Channel, err, m.JSON())
	}
	return e
}

// The ground truth must be what a correct resolver derives from the
// messages: map every message the way the collector does; every identifier
// is the acting person's own, used by the people the truth says share it, or
// junk that the default identity rules block. Joining the own identifiers
// that share an event must give exactly the people.
func TestGroundTruthMatchesTheMessages(t *testing.T) {
	checkGroundTruth(t, synth.Generate(config(600)))
}

// checkGroundTruth checks that the messages of pop carry exactly the truth
// (see TestGroundTruthMatchesTheMessages).
func checkGroundTruth(t *testing.T, pop synth.Population) {
	t.Helper()
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	owner := map[string]int{}
	truth := pop.IdentifierTruth()
	channels := map[string]bool{}
	junkSeen := map[string]bool{}
	sharedBy := map[string]map[int]bool{}
	for _, m := range pop.Messages {
		e := envelope(t, m)
		channels[m.Channel] = true
		if _, ok := policy.Strongest(e.Identifiers); !ok {
			t.Fatalf("the collector would refuse a message with junk identifiers only: %s", m.JSON())
		}
		ids, err := m.Identifiers()
		if err != nil || !slices.Equal(ids, e.Identifiers) {
			t.Errorf("Message.Identifiers = %v, %v; the collector reads %v", ids, err, e.Identifiers)
		}
		carriesJunk := false
		var own []string
		for _, id := range e.Identifiers {
			s := id.String()
			switch {
			case pop.IsJunk(s):
				carriesJunk = true
				junkSeen[s] = true
				if !policy.Blocked(id) {
					t.Errorf("junk identifier %s is not blocked by the default identity rules", s)
				}
				continue
			case policy.Blocked(id):
				t.Errorf("identifier %s of person %d is blocked by the default rules but not listed as junk", s, m.Person)
			}
			if users, ok := pop.Shared[s]; ok {
				if !slices.Contains(users, m.Person) {
					t.Errorf("shared identifier %s used by person %d, the truth says only %v", s, m.Person, users)
				}
				if sharedBy[s] == nil {
					sharedBy[s] = map[int]bool{}
				}
				sharedBy[s][m.Person] = true
				continue
			}
			if p, ok := truth[s]; !ok || p != m.Person {
				t.Fatalf("identifier %s in a message of person %d; the truth says it is person %d's (listed: %v)", s, m.Person, p, ok)
			}
			if p, ok := owner[s]; ok && p != m.Person {
				t.Fatalf("identifier %s used by persons %d and %d", s, p, m.Person)
			}
			owner[s] = m.Person
			if _, ok := parent[s]; !ok {
				parent[s] = s
			}
			own = append(own, s)
		}
		for _, s := range own[min(1, len(own)):] {
			parent[find(s)] = find(own[0])
		}
		if carriesJunk != (m.Hazard == synth.HazardJunk) {
			t.Errorf("message with hazard %q carries junk: %v\n%s", m.Hazard, carriesJunk, m.JSON())
		}
	}
	if got := slices.Sorted(maps.Keys(junkSeen)); !slices.Equal(got, pop.Junk) {
		t.Errorf("messages carry junk %v, Population.Junk lists %v", got, pop.Junk)
	}
	for s, users := range pop.Shared {
		if len(users) != 2 || len(sharedBy[s]) != 2 {
			t.Errorf("shared identifier %s: truth says %v, used by %v", s, users, sharedBy[s])
		}
	}
	components := map[string][]string{}
	for id := range parent {
		components[find(id)] = append(components[find(id)], id)
	}
	if len(components) != pop.ExpectedProfiles() {
		t.Fatalf("messages form %d identity components, ground truth says %d profiles", len(components), pop.ExpectedProfiles())
	}
	for _, ids := range components {
		p := pop.People[owner[ids[0]]]
		slices.Sort(ids)
		want := slices.Clone(p.Identifiers)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("person %d: messages carry %v, ground truth lists %v", p.Index, ids, want)
		}
	}
	if got := slices.Sorted(maps.Keys(channels)); !slices.Equal(got, slices.Sorted(slices.Values(synth.Channels))) {
		t.Errorf("channels used %v, want all of %v", got, synth.Channels)
	}
}

// The truth about households and hazards is consistent with the people.
func TestHouseholds(t *testing.T) {
	pop := synth.Generate(config(600))
	if len(pop.Shared) == 0 {
		t.Fatal("no shared tablets")
	}
	for _, p := range pop.People {
		if len(p.Shared) == 0 {
			if len(p.SharesWith) > 0 || slices.Contains(p.Hazards, synth.HazardSharedDevice) {
				t.Errorf("person %d shares with %v but has no shared identifiers", p.Index, p.SharesWith)
			}
			continue
		}
		if len(p.SharesWith) != 1 || !slices.Contains(p.Hazards, synth.HazardSharedDevice) {
			t.Fatalf("person %d: shares %v with %v, hazards %v", p.Index, p.Shared, p.SharesWith, p.Hazards)
		}
		q := pop.People[p.SharesWith[0]]
		if !slices.Equal(q.Shared, p.Shared) || !slices.Equal(q.SharesWith, []int{p.Index}) {
			t.Errorf("person %d shares %v with %d, who shares %v with %v", p.Index, p.Shared, q.Index, q.Shared, q.SharesWith)
		}
		if p.Email == "" || q.Email == "" {
			t.Errorf("household %d and %d: both must be known customers", p.Index, q.Index)
		}
		for _, s := range p.Shared {
			if !slices.Equal(pop.Shared[s], []int{min(p.Index, q.Index), max(p.Index, q.Index)}) {
				t.Errorf("Population.Shared[%s] = %v, want persons %d and %d", s, pop.Shared[s], p.Index, q.Index)
			}
		}
	}
}

// share is a count over an eligible group.
type share struct{ n, of int }

func (s *share) add(eligible, has bool) {
	if eligible {
		s.of++
		if has {
			s.n++
		}
	}
}

func (s share) value() float64 { return float64(s.n) / float64(s.of) }

func hazardShares(pop synth.Population) map[string]*share {
	s := map[string]*share{synth.HazardSharedDevice: {}, synth.HazardJunk: {}, synth.HazardSecondEmail: {}, synth.HazardPhoneOnly: {}, "known": {}}
	for _, p := range pop.People {
		known := p.Email != ""
		has := func(h string) bool { return slices.Contains(p.Hazards, h) }
		s["known"].add(true, known)
		s[synth.HazardSharedDevice].add(known, has(synth.HazardSharedDevice))
		s[synth.HazardJunk].add(true, has(synth.HazardJunk))
		s[synth.HazardSecondEmail].add(known, has(synth.HazardSecondEmail))
		// Loyalty members have a phone without the phone-only hazard.
		member := p.Phone != "" && !has(synth.HazardPhoneOnly)
		s[synth.HazardPhoneOnly].add(known && !member, has(synth.HazardPhoneOnly))
		if has(synth.HazardSecondEmail) != (p.WorkEmail != "") {
			panic(fmt.Sprintf("person %d: work email %q, hazards %v", p.Index, p.WorkEmail, p.Hazards))
		}
	}
	return s
}

func TestHazardSharesAsConfigured(t *testing.T) {
	cfg := config(8000)
	cfg.SharedDeviceShare, cfg.JunkShare, cfg.SecondEmailShare, cfg.PhoneOnlyShare = 0.2, 0.15, 0.3, 0.4
	pop := synth.Generate(cfg)
	shares := hazardShares(pop)
	for name, want := range map[string]float64{
		"known": cfg.KnownShare, synth.HazardSharedDevice: cfg.SharedDeviceShare, synth.HazardJunk: cfg.JunkShare,
		synth.HazardSecondEmail: cfg.SecondEmailShare, synth.HazardPhoneOnly: cfg.PhoneOnlyShare,
	} {
		s := shares[name]
		// Four standard deviations of a binomial share.
		tol := 4 * math.Sqrt(want*(1-want)/float64(s.of))
		if got := s.value(); math.Abs(got-want) > tol {
			t.Errorf("%s: %d of %d (%.3f), want %.3f ± %.3f", name, s.n, s.of, got, want, tol)
		}
	}

	for h, n := range pop.Hazards() {
		if s := shares[h]; s == nil || s.n != n {
			t.Errorf("Hazards()[%s] = %d, want %v", h, n, s)
		}
	}

	none := synth.Generate(config(2000).NoHazards())
	for name, s := range hazardShares(none) {
		if name != "known" && s.n != 0 {
			t.Errorf("without hazards: %d people with %s", s.n, name)
		}
	}
	if len(none.Junk) != 0 || len(none.Shared) != 0 {
		t.Errorf("without hazards: junk %v, shared %v", none.Junk, none.Shared)
	}
	for _, m := range none.Messages {
		if m.Hazard != "" {
			t.Fatalf("without hazards: message with hazard %q", m.Hazard)
		}
	}

	all := config(500)
	all.SharedDeviceShare, all.JunkShare, all.SecondEmailShare, all.PhoneOnlyShare = 1, 1, 1, 1
	shares = hazardShares(synth.Generate(all))
	for _, name := range []string{synth.HazardJunk, synth.HazardSecondEmail, synth.HazardPhoneOnly} {
		if s := shares[name]; s.n != s.of {
			t.Errorf("share 1: %s for %d of %d", name, s.n, s.of)
		}
	}
	// Households are pairs, so an odd one out may remain.
	if s := shares[synth.HazardSharedDevice]; s.of-s.n > 1 {
		t.Errorf("share 1: %d of %d known customers share a tablet", s.n, s.of)
	}
}

// observations are the messages as the reference resolver sees them: usable
// identifiers only.
func observations(t *testing.T, pop synth.Population, p *identity.Policy) []identitytest.Observation {
	obs := make([]identitytest.Observation, 0, len(pop.Messages))
	for _, m := range pop.Messages {
		usable, _ := p.Usable(envelope(t, m).Identifiers)
		ids := make([]string, len(usable))
		for i, id := range usable {
			ids[i] = id.String()
		}
		obs = append(obs, identitytest.Observation{EventID: m.ID(), At: m.At.UnixMilli(), IDs: ids})
	}
	return obs
}

func profileOf(g *identitytest.Graph) map[string]string {
	m := make(map[string]string, len(g.Of))
	for id, i := range g.Of {
		m[id] = fmt.Sprint("profile-", i)
	}
	return m
}

// The reference resolver with the default identity rules (merge
// protection) resolves the population exactly as the truth says; without
// blocked values, the junk identifiers over-merge it.
func TestReferenceResolverMatchesTheTruth(t *testing.T) {
	pop := synth.Generate(config(400))
	g := identitytest.Resolve(policy, observations(t, pop, policy))
	ids := pop.ScoreIdentifiers(profileOf(g))
	if !ids.Perfect() || ids.People != len(pop.People) || ids.Profiles != len(pop.People) {
		t.Errorf("reference resolver, identifiers: %v", ids)
	}
	if len(g.Profiles) != pop.ExpectedProfiles() {
		t.Errorf("reference resolver made %d profiles, the truth expects %d", len(g.Profiles), pop.ExpectedProfiles())
	}
	for _, junk := range pop.Junk {
		if _, ok := g.Of[junk]; ok {
			t.Errorf("junk %s is linked to a profile", junk)
		}
	}
	events, err := pop.ScoreEvents(profileOf(g), policy.Strongest)
	if err != nil {
		t.Fatal(err)
	}
	// Anonymous page views on a shared tablet go to whoever the tablet's
	// browser id is linked to; everything else is exact.
	if events.Unresolved != 0 || events.Precision() < 0.95 || events.Recall() < 0.95 || events.Items != len(pop.Messages) {
		t.Errorf("reference resolver, events: %v", events)
	}
	t.Logf("identifiers: %v", ids)
	t.Logf("events: %v", events)

	rules := identity.DefaultRules()
	rules.Blocked, rules.BlockedPatterns = nil, nil
	for typ, r := range rules.Types {
		r.Blocked, r.BlockedPatterns = nil, nil
		rules.Types[typ] = r
	}
	open := identity.MustCompile(rules)
	unprotected := pop.ScoreIdentifiers(profileOf(identitytest.Resolve(open, observations(t, pop, open))))
	if unprotected.OverMerged == 0 || unprotected.LargestOverMerge < 5 || unprotected.Perfect() {
		t.Errorf("without blocked values the junk should over-merge people: %v", unprotected)
	}
	t.Logf("without blocked values: %v (largest over-merge: %d people)", unprotected, unprotected.LargestOverMerge)
}

// Long journeys (every hazard) are compressed into the span: the collector
// refuses events more than a day in the future.
func TestMessagesStayInTheSpan(t *testing.T) {
	cfg := config(2000)
	cfg.SharedDeviceShare, cfg.JunkShare, cfg.SecondEmailShare, cfg.PhoneOnlyShare = 1, 1, 1, 1
	pop := synth.Generate(cfg)
	end := cfg.Start.Add(cfg.Span)
	last := map[int]time.Time{}
	for _, m := range pop.Messages {
		if m.At.Before(cfg.Start) || m.At.After(end) {
			t.Fatalf("message of person %d at %s, outside [%s, %s]", m.Person, m.At, cfg.Start, end)
		}
		if ts := m.Body["timestamp"]; ts != m.At.Format(time.RFC3339Nano) {
			t.Fatalf("message at %s has timestamp %v", m.At, ts)
		}
		if m.At.Before(last[m.Person]) {
			t.Fatalf("messages of person %d out of order", m.Person)
		}
		last[m.Person] = m.At
	}
}

// properties decodes a message's properties as the collector receives them.
func properties(t *testing.T, m synth.Message) map[string]json.RawMessage {
	t.Helper()
	var body struct {
		Event      string                     `json:"event"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(m.JSON(), &body); err != nil {
		t.Fatal(err)
	}
	return body.Properties
}

// Person.Orders and Person.Revenue are what the person's Order Completed
// messages add up to: their number, and per currency the sum of their
// revenue property in millionths.
func TestOrderTruthMatchesTheMessages(t *testing.T) {
	pop := synth.Generate(config(600))
	orders := map[int]int{}
	micros := map[int]map[string]int64{}
	for _, m := range pop.Messages {
		if m.Body["event"] != "Order Completed" {
			continue
		}
		props := properties(t, m)
		var revenue float64
		var currency string
		if err := json.Unmarshal(props["revenue"], &revenue); err != nil || revenue <= 0 {
			t.Fatalf("order without a positive revenue (%v): %s", err, m.JSON())
		}
		if err := json.Unmarshal(props["currency"], &currency); err != nil || currency == "" {
			t.Fatalf("order without a currency (%v): %s", err, m.JSON())
		}
		orders[m.Person]++
		if micros[m.Person] == nil {
			micros[m.Person] = map[string]int64{}
		}
		micros[m.Person][currency] += int64(math.Round(revenue * 1e6))
	}
	if len(orders) < 50 {
		t.Fatalf("only %d of %d people ordered", len(orders), len(pop.People))
	}
	for _, p := range pop.People {
		var want map[string]float64
		for cur, n := range micros[p.Index] {
			if want == nil {
				want = map[string]float64{}
			}
			want[cur] = float64(n) / 1e6
		}
		if p.Orders != orders[p.Index] || !reflect.DeepEqual(p.Revenue, want) {
			t.Errorf("person %d: truth says %d orders, revenue %v; the messages add up to %d, %v", p.Index, p.Orders, p.Revenue, orders[p.Index], want)
		}
	}
}

// Folding each person's messages into a profile with the default profile
// model gives the orders and revenue of the truth, the NPS of their survey
// answer, and the sentiment of its comment: positive for promoters (9-10),
// neutral for passives (7-8), negative for detractors (0-6).
func TestProfilesOfThePeople(t *testing.T) {
	pop := synth.Generate(config(600))
	model := profile.Default()
	states := map[int]profile.State{}
	nps := map[int]float64{}
	comments := map[string]bool{}
	for _, m := range pop.Messages {
		e := envelope(t, m)
		if states[m.Person] == nil {
			states[m.Person] = profile.State{}
		}
		for _, u := range model.Updates(e) {
			states[m.Person].Apply(u)
		}
		if m.Body["event"] != "Survey Responded" {
			continue
		}
		props := properties(t, m)
		var score float64
		var comment, survey string
		if json.Unmarshal(props["nps"], &score) != nil || json.Unmarshal(props["comment"], &comment) != nil ||
			json.Unmarshal(props["survey"], &survey) != nil || survey != "nps" || props["score"] != nil {
			t.Fatalf("survey answer without nps, comment and survey \"nps\" (or with the old score): %s", m.JSON())
		}
		nps[m.Person] = score
		comments[comment] = true
	}
	if len(nps) < 30 || len(comments) < 6 {
		t.Fatalf("%d survey answers with %d distinct comments", len(nps), len(comments))
	}
	labels := map[string]int{}
	for _, p := range pop.People {
		got := model.Render("synth", fmt.Sprint(p.Index), states[p.Index], profile.Meta{AsOf: time.Now()})
		tr := got.Transactional
		want := p.Revenue
		if want == nil {
			want = map[string]float64{}
		}
		if tr.Orders != int64(p.Orders) || !maps.Equal(tr.Revenue, want) {
			t.Errorf("person %d: profile has %d orders, revenue %v; truth %d, %v", p.Index, tr.Orders, tr.Revenue, p.Orders, p.Revenue)
		}
		score, answered := nps[p.Index]
		ps := got.Psychographic
		if !answered {
			if ps.NPS != nil || ps.Sentiment != nil {
				t.Errorf("person %d answered no survey: nps %+v, sentiment %+v", p.Index, ps.NPS, ps.Sentiment)
			}
			continue
		}
		if ps.NPS == nil || ps.NPS.Score != score || ps.NPS.Channel != "survey" {
			t.Errorf("person %d answered %v: profile nps %+v", p.Index, score, ps.NPS)
		}
		label := "negative"
		switch {
		case score >= 9:
			label = "positive"
		case score >= 7:
			label = "neutral"
		}
		if ps.Sentiment == nil || ps.Sentiment.Label != label || ps.Sentiment.Responses != 1 {
			t.Errorf("person %d answered %v: sentiment %+v, want %s", p.Index, score, ps.Sentiment, label)
		} else {
			labels[label]++
		}
	}
	for _, l := range []string{"positive", "neutral", "negative"} {
		if labels[l] == 0 {
			t.Errorf("no %s survey comment in %v", l, labels)
		}
	}
	t.Logf("%d survey answers, %d distinct comments, labels %v", len(nps), len(comments), labels)
}
