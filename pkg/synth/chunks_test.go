package synth_test

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/identity/identitytest"
	"github.com/cxstream/cxstream/pkg/synth"
)

// knobs is config(people) with every load knob turned.
func knobs(people int) synth.Config {
	cfg := config(people)
	cfg.Events, cfg.MergeRate, cfg.HotKeys, cfg.HotShare = 14, 0.25, 4, 0.3
	return cfg
}

// chunks collects cfg.Chunks(size).
func chunks(cfg synth.Config, size int) []synth.Population {
	var out []synth.Population
	for c := range cfg.Chunks(size) {
		out = append(out, c)
	}
	return out
}

// samePopulation reports how a and b differ, "" when they are equal.
func samePopulation(a, b synth.Population) string {
	if len(a.Messages) != len(b.Messages) {
		return fmt.Sprintf("%d vs %d messages", len(a.Messages), len(b.Messages))
	}
	for i := range a.Messages {
		ma, mb := a.Messages[i], b.Messages[i]
		if string(ma.JSON()) != string(mb.JSON()) || ma.Person != mb.Person || ma.Channel != mb.Channel ||
			ma.Hazard != mb.Hazard || ma.Filler != mb.Filler || !ma.At.Equal(mb.At) {
			return fmt.Sprintf("message %d differs:\n%+v\n%+v", i, ma, mb)
		}
	}
	switch {
	case !reflect.DeepEqual(a.People, b.People):
		return "people differ"
	case !reflect.DeepEqual(a.Junk, b.Junk):
		return fmt.Sprintf("junk %v vs %v", a.Junk, b.Junk)
	case !reflect.DeepEqual(a.Shared, b.Shared):
		return "shared identifiers differ"
	}
	return ""
}

func TestChunksAreDeterministic(t *testing.T) {
	cfg := knobs(1100)
	a, b := chunks(cfg, 500), chunks(cfg, 500)
	if len(a) != 3 || cfg.ChunkCount(500) != 3 {
		t.Fatalf("%d chunks (ChunkCount %d), want 3", len(a), cfg.ChunkCount(500))
	}
	for k := range a {
		if d := samePopulation(a[k], b[k]); d != "" {
			t.Fatalf("chunk %d differs between two runs: %s", k, d)
		}
	}
	if n := len(a[2].People); n != 100 {
		t.Errorf("last chunk has %d people, want 100", n)
	}
	cfg.Seed = 2
	c := chunks(cfg, 500)
	for k := range a {
		if string(a[k].Messages[0].JSON()) == string(c[k].Messages[0].JSON()) {
			t.Errorf("chunk %d: another seed gave the same first message", k)
		}
	}
	// Chunks of one seed differ from each other too.
	if a[1].People[0].Name == a[2].People[0].Name && a[1].People[1].Name == a[2].People[1].Name &&
		a[1].People[2].Name == a[2].People[2].Name {
		t.Error("chunks 1 and 2 start with the same people: their random streams are not independent")
	}
}

// Chunk k alone is chunk k of a full run, and chunk 0 is Generate's
// population of that size.
func TestChunkAlone(t *testing.T) {
	cfg := knobs(600)
	all := chunks(cfg, 200)
	for _, k := range []int{2, 1, 0} {
		if d := samePopulation(cfg.Chunk(200, k), all[k]); d != "" {
			t.Errorf("chunk %d alone differs from chunk %d of the full run: %s", k, k, d)
		}
	}
	first := cfg
	first.People = 200
	if d := samePopulation(synth.Generate(first), all[0]); d != "" {
		t.Errorf("chunk 0 differs from Generate with People = the chunk size: %s", d)
	}
	if d := samePopulation(cfg.Chunk(0, 0), synth.Generate(cfg)); d != "" {
		t.Errorf("Chunk(0, 0) differs from Generate: %s", d)
	}
	for _, k := range []int{-1, 3} {
		if c := cfg.Chunk(200, k); len(c.People) != 0 || len(c.Messages) != 0 {
			t.Errorf("chunk %d of 3: %d people, %d messages; want none", k, len(c.People), len(c.Messages))
		}
	}
	// Generate's stream is untouched by the knobs at 0: Default has them at
	// 0, and the first chunk of the default equals Generate.
	def := config(600)
	if d := samePopulation(def.Chunk(200, 0), synth.Generate(config(200))); d != "" {
		t.Errorf("default chunk 0: %s", d)
	}
}

// Identifiers, message ids and order ids of different chunks never
// collide, and the person indexes run without gaps.
func TestChunksNeverShareIdentifiers(t *testing.T) {
	cfg := knobs(6000)
	cfg.SharedDeviceShare, cfg.JunkShare, cfg.Events = 0.3, 0.3, 10
	owner := map[string]int{} // identifier, message id or order id -> chunk
	claim := func(k int, what, id string) {
		t.Helper()
		if c, ok := owner[id]; ok && c != k {
			t.Fatalf("%s %s in chunks %d and %d", what, id, c, k)
		}
		owner[id] = k
	}
	next := 0
	for k, c := range chunks(cfg, 2000) {
		for _, p := range c.People {
			if p.Index != next {
				t.Fatalf("chunk %d: person %d, want %d", k, p.Index, next)
			}
			next++
			for _, id := range p.Identifiers {
				claim(k, "identifier", id)
			}
		}
		for id := range c.Shared {
			claim(k, "shared identifier", id)
		}
		ids := map[string]bool{}
		for _, m := range c.Messages {
			if ids[m.ID()] {
				t.Fatalf("chunk %d: message id %s twice", k, m.ID())
			}
			ids[m.ID()] = true
			claim(k, "message id", m.ID())
			if props, ok := m.Body["properties"].(map[string]any); ok && props["order_id"] != nil {
				claim(k, "order id", fmt.Sprint(props["order_id"]))
			}
		}
	}
	if next != cfg.People {
		t.Errorf("%d people in the chunks, want %d", next, cfg.People)
	}
}

// The knobs keep the truth exact: the messages of a chunked population
// with every knob and hazard carry exactly its ground truth, and the
// reference resolver with merge protection resolves it perfectly.
func TestKnobsKeepTheTruth(t *testing.T) {
	cfg := knobs(600)
	cfg.Events = 11
	pop := synth.Concat(chunks(cfg, 200)...)
	checkGroundTruth(t, pop)
	checkFillerUsesKnownIdentifiers(t, pop)

	g := identitytest.Resolve(policy, observations(t, pop, policy))
	ids := pop.ScoreIdentifiers(profileOf(g))
	if !ids.Perfect() || ids.People != len(pop.People) || len(g.Profiles) != pop.ExpectedProfiles() {
		t.Errorf("reference resolver, identifiers: %v (%d profiles, want %d)", ids, len(g.Profiles), pop.ExpectedProfiles())
	}
	events, err := pop.ScoreEvents(profileOf(g), policy.Strongest)
	if err != nil {
		t.Fatal(err)
	}
	if events.Unresolved != 0 || events.Precision() < 0.95 || events.Recall() < 0.95 || events.Items != len(pop.Messages) {
		t.Errorf("reference resolver, events: %v", events)
	}
	t.Logf("%d people, %d messages; identifiers: %v; events: %v", len(pop.People), len(pop.Messages), ids, events)
}

// checkFillerUsesKnownIdentifiers checks that every filler message carries
// only identifiers its person used on its channel before, in a message of
// their journey.
func checkFillerUsesKnownIdentifiers(t *testing.T, pop synth.Population) {
	t.Helper()
	type use struct {
		person  int
		channel string
		id      string
	}
	first := map[use]int64{} // unix nanos of the first journey message
	var filler []synth.Message
	for _, m := range pop.Messages {
		if m.Filler {
			filler = append(filler, m)
			continue
		}
		ids, err := m.Identifiers()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			u := use{m.Person, m.Channel, id.String()}
			if _, ok := first[u]; !ok {
				first[u] = m.At.UnixNano()
			}
		}
	}
	if len(filler) == 0 {
		t.Fatal("no filler messages")
	}
	for _, m := range filler {
		ids, err := m.Identifiers()
		if err != nil || len(ids) == 0 {
			t.Fatalf("filler %s: identifiers %v, %v", m.JSON(), ids, err)
		}
		for _, id := range ids {
			at, ok := first[use{m.Person, m.Channel, id.String()}]
			if !ok || at > m.At.UnixNano() {
				t.Fatalf("filler of person %d on %s at %s carries %s, which the person's journey uses there first at %v (%v)",
					m.Person, m.Channel, m.At, id, at, ok)
			}
		}
	}
}

func TestEventsKnob(t *testing.T) {
	cfg := config(1200)
	cfg.Events = 20
	var people, messages, filler int
	channels := map[string]int{}
	for k, c := range chunks(cfg, 400) {
		// Each chunk is topped up to exactly Events per person.
		if want := 20 * len(c.People); len(c.Messages) != want {
			t.Errorf("chunk %d: %d messages for %d people, want %d", k, len(c.Messages), len(c.People), want)
		}
		people += len(c.People)
		messages += len(c.Messages)
		for i, m := range c.Messages {
			if i > 0 && m.At.Before(c.Messages[i-1].At) {
				t.Fatalf("chunk %d: messages out of time order at %d", k, i)
			}
			if m.Filler {
				filler++
				channels[m.Channel]++
				if m.Hazard != "" {
					t.Errorf("filler with hazard %q", m.Hazard)
				}
			}
		}
	}
	if mean := float64(messages) / float64(people); mean != 20 {
		t.Errorf("%.3f events per person, want 20", mean)
	}
	if channels["web"] == 0 || channels["mobile"] == 0 || channels["email"] == 0 {
		t.Errorf("filler per channel %v, want web, mobile and email", channels)
	}
	t.Logf("%d messages, %d filler, per channel %v", messages, filler, channels)

	// 0, or a mean below the journeys' own, adds nothing.
	for _, events := range []float64{0, 3} {
		c := config(300)
		c.Events = events
		pop := synth.Generate(c)
		for _, m := range pop.Messages {
			if m.Filler {
				t.Fatalf("events %v: filler added", events)
			}
		}
		if d := samePopulation(pop, synth.Generate(config(300))); d != "" {
			t.Errorf("events %v: the journeys changed: %s", events, d)
		}
	}
}

func TestMergeRateKnob(t *testing.T) {
	cfg := config(2500)
	cfg.MergeRate = 0.3
	pop := synth.Concat(chunks(cfg, 1000)...)
	var known, merged int
	pages := map[string]int{}   // extra anonymous id -> anonymous page views
	logins := map[string]bool{} // extra anonymous id -> logged in
	for _, m := range pop.Messages {
		anon, _ := m.Body["anonymousId"].(string)
		if anon == "" || pop.People[m.Person].ExtraBrowser != "anonymous_id:"+anon {
			continue
		}
		switch {
		case m.Body["type"] == "page" && m.Body["userId"] == nil:
			if logins[anon] {
				t.Errorf("person %d browsed anonymously in the extra browser after logging in", m.Person)
			}
			pages[anon]++
		case m.Body["type"] == "identify" && m.Body["userId"] != nil:
			logins[anon] = true
		}
	}
	for _, p := range pop.People {
		if p.Email == "" {
			if p.ExtraBrowser != "" {
				t.Errorf("anonymous visitor %d has an extra browser", p.Index)
			}
			continue
		}
		known++
		if p.ExtraBrowser == "" {
			continue
		}
		merged++
		anon := strings.TrimPrefix(p.ExtraBrowser, "anonymous_id:")
		if !slices.Contains(p.Identifiers, p.ExtraBrowser) || pages[anon] == 0 || !logins[anon] {
			t.Errorf("person %d: extra browser %s (in identifiers: %v) with %d anonymous page views, login %v",
				p.Index, p.ExtraBrowser, slices.Contains(p.Identifiers, p.ExtraBrowser), pages[anon], logins[anon])
		}
	}
	want := cfg.MergeRate
	tol := 4 * math.Sqrt(want*(1-want)/float64(known))
	if got := float64(merged) / float64(known); math.Abs(got-want) > tol {
		t.Errorf("%d of %d known customers (%.3f) merged an extra browser, want %.3f ± %.3f", merged, known, got, want, tol)
	}
	// TestKnobsKeepTheTruth checks the truth with a merge rate.
}

func TestHotKeysKnob(t *testing.T) {
	cfg := config(1500)
	cfg.Events, cfg.HotKeys, cfg.HotShare = 16, 5, 0.4
	perPerson := map[int]int{}
	var filler, hot int
	for k, c := range chunks(cfg, 500) {
		chunkFiller, chunkHot := 0, 0
		for _, m := range c.Messages {
			perPerson[m.Person]++
			if !m.Filler {
				continue
			}
			chunkFiller++
			if m.Person < cfg.HotKeys {
				chunkHot++
			}
		}
		// Every chunk carries its share of the hot traffic.
		if got := float64(chunkHot) / float64(chunkFiller); math.Abs(got-cfg.HotShare) > 0.001 {
			t.Errorf("chunk %d: %d of %d filler events (%.4f) to the hot people, want %v", k, chunkHot, chunkFiller, got, cfg.HotShare)
		}
		filler += chunkFiller
		hot += chunkHot
		for _, p := range c.People {
			if p.Hot != (p.Index < cfg.HotKeys) || (p.Hot && p.Email == "") {
				t.Errorf("person %d: hot %v, email %q; the first %d people are the hot ones, all known", p.Index, p.Hot, p.Email, cfg.HotKeys)
			}
		}
	}
	// The hot people share the hot traffic evenly, far above everyone else.
	mean := float64(hot) / float64(cfg.HotKeys)
	var coldMax int
	for p, n := range perPerson {
		switch {
		case p < cfg.HotKeys && math.Abs(float64(n)-mean) > 0.2*mean:
			t.Errorf("hot person %d has %d messages, want about %.0f", p, n, mean)
		case p >= cfg.HotKeys:
			coldMax = max(coldMax, n)
		}
	}
	if float64(coldMax)*10 > mean {
		t.Errorf("the busiest other person has %d messages, hot people about %.0f", coldMax, mean)
	}
	t.Logf("%d filler events, %d to %d hot people (about %.0f each); the busiest other person: %d", filler, hot, cfg.HotKeys, mean, coldMax)
}

func TestKnobsValidate(t *testing.T) {
	if err := knobs(100).Validate(); err != nil {
		t.Fatalf("knobs: %v", err)
	}
	for _, tt := range []struct {
		name   string
		change func(*synth.Config)
		want   string
	}{
		{"negative events", func(c *synth.Config) { c.Events = -1 }, "events: must be between 0"},
		{"NaN events", func(c *synth.Config) { c.Events = math.NaN() }, "events:"},
		{"infinite events", func(c *synth.Config) { c.Events = math.Inf(1) }, "events:"},
		{"merge rate above 1", func(c *synth.Config) { c.MergeRate = 1.5 }, "merge rate: must be between 0 and 1"},
		{"negative hot keys", func(c *synth.Config) { c.HotKeys = -2 }, "hot keys: must be >= 0"},
		{"more hot keys than people", func(c *synth.Config) { c.HotKeys = 101 }, "hot keys: must be at most people (100)"},
		{"hot share above 1", func(c *synth.Config) { c.HotShare = 2 }, "hot share: must be between 0 and 1"},
		{"hot share without hot keys", func(c *synth.Config) { c.HotKeys = 0 }, "hot share: 0.3 of the filler events needs hot keys > 0"},
		{"hot share without events", func(c *synth.Config) { c.Events = 0 }, "hot share: 0.3 of the filler events needs events > 0"},
	} {
		cfg := knobs(100)
		tt.change(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// Concat of all chunks is one population: people by index, messages in
// time order, the chunks' junk and shared identifiers.
func TestConcat(t *testing.T) {
	cfg := knobs(600)
	cfg.JunkShare = 0.2
	parts := chunks(cfg, 200)
	pop := synth.Concat(parts...)
	var msgs int
	junk := map[string]bool{}
	for _, c := range parts {
		msgs += len(c.Messages)
		for _, j := range c.Junk {
			junk[j] = true
		}
	}
	if len(pop.People) != cfg.People || len(pop.Messages) != msgs || len(pop.Junk) != len(junk) || !slices.IsSorted(pop.Junk) {
		t.Fatalf("concat: %d people, %d messages, junk %v; want %d, %d, %d sorted", len(pop.People), len(pop.Messages), pop.Junk, cfg.People, msgs, len(junk))
	}
	for i, p := range pop.People {
		if p.Index != i {
			t.Fatalf("People[%d].Index = %d", i, p.Index)
		}
	}
	for i := 1; i < len(pop.Messages); i++ {
		if pop.Messages[i].At.Before(pop.Messages[i-1].At) {
			t.Fatalf("messages out of time order at %d", i)
		}
	}
	one := knobs(200)
	if d := samePopulation(synth.Concat(synth.Generate(one)), synth.Generate(one)); d != "" {
		t.Errorf("Concat of one population changed it: %s", d)
	}
}

// Generating one chunk of 10,000 people: go test -bench Chunk -benchmem.
func BenchmarkChunk10k(b *testing.B) {
	for _, bb := range []struct {
		name string
		cfg  synth.Config
	}{
		{"journeys", config(20000)},
		{"events=20", func() synth.Config { c := knobs(20000); c.Events = 20; return c }()},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			var msgs int
			for b.Loop() {
				msgs = len(bb.cfg.Chunk(10000, 1).Messages) // a chunk of 10,000 people, not chunk 0
			}
			if msgs < 70000 {
				b.Fatalf("%d messages", msgs)
			}
			b.ReportMetric(float64(msgs), "messages/op")
		})
	}
}
