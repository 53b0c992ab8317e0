package synth_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/synth"
	"github.com/cxstream/cxstream/pkg/tracking"
)

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := synth.Default()
	cfg.People = 50
	cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := synth.Generate(cfg), synth.Generate(cfg)
	if len(a.Messages) != len(b.Messages) {
		t.Fatalf("%d vs %d messages", len(a.Messages), len(b.Messages))
	}
	for i := range a.Messages {
		if string(a.Messages[i].JSON()) != string(b.Messages[i].JSON()) {
			t.Fatalf("message %d differs:\n%s\n%s", i, a.Messages[i].JSON(), b.Messages[i].JSON())
		}
	}
	cfg.Seed = 2
	if c := synth.Generate(cfg); string(c.Messages[0].JSON()) == string(a.Messages[0].JSON()) {
		t.Error("another seed gave the same first message")
	}
}

// The ground truth must be what a correct resolver derives from the
// messages: map every message the way the collector does, join identifiers
// that share an event, and compare the components with the people.
func TestGroundTruthMatchesTheMessages(t *testing.T) {
	cfg := synth.Default()
	cfg.People = 200
	pop := synth.Generate(cfg)
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	owner := map[string]int{}
	channels := map[string]bool{}
	for _, m := range pop.Messages {
		msg, err := tracking.DecodeMessage(m.JSON())
		if err != nil {
			t.Fatal(err)
		}
		e, err := tracking.Map(msg, tracking.Source{Tenant: "demo", Channel: m.Channel}, m.At)
		if err == nil {
			err = tracking.Prepare(e, event.DefaultLimits())
		}
		if err != nil {
			t.Fatalf("message of person %d on %s is invalid: %v\n%s", m.Person, m.Channel, err, m.JSON())
		}
		channels[m.Channel] = true
		for _, id := range e.Identifiers {
			s := id.String()
			if _, ok := parent[s]; !ok {
				parent[s] = s
			}
			if p, ok := owner[s]; ok && p != m.Person {
				t.Fatalf("identifier %s used by persons %d and %d", s, p, m.Person)
			}
			owner[s] = m.Person
			parent[find(s)] = find(e.Identifiers[0].String())
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
