package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// withoutPerson is the reference of erasure: the events as if the person
// with identifiers gone had never been seen. An event whose strongest
// usable identifier is theirs is about them and goes; any other event
// loses their identifiers (a rule had kept them out of its profile).
func withoutPerson(p *identity.Policy, events []*event.Event, gone []string) []*event.Event {
	var out []*event.Event
	for _, e := range events {
		usable, _ := p.Usable(e.Identifiers)
		if len(usable) > 0 && slices.Contains(gone, usable[0].String()) {
			continue
		}
		c := *e
		c.Identifiers = nil
		for _, id := range e.Identifiers {
			if !slices.Contains(gone, id.String()) {
				c.Identifiers = append(c.Identifiers, id)
			}
		}
		out = append(out, &c)
	}
	return out
}

// TestIntegrationForgetMatchesReference plays random populations, forgets
// a random person by one of their identifiers, and compares the store with
// the reference built from the events without that person: the same
// partition and profile states for everybody else. No key of the tenant
// names a forgotten identifier or profile id afterwards. Then more events,
// replays of the first half among them, are played: those about the person
// are suppressed, the others lose the person's identifiers, and the store
// still equals the reference.
func TestIntegrationForgetMatchesReference(t *testing.T) {
	runs := 40
	if testing.Short() {
		runs = 8
	}
	ctx := context.Background()
	forgotten, suppressed := 0, 0
	for run := range runs {
		seed := runSeed(run)
		rng := rand.New(rand.NewPCG(seed, 4))
		policy := redisstoretest.RulesVariant(rng.IntN(3))
		s, tenant := redisstoretest.NewWith(t, redisstore.Default(), policy)
		events := randomEvents(t, rng, tenant, 20+rng.IntN(40))
		half := len(events) / 2
		redisstoretest.PlaySequential(t, rng, s, tenant, redisstoretest.Deliveries(rng, policy, events[:half], 0), 20)
		x := expect(policy, events[:half])
		if len(x.graph.Profiles) == 0 {
			continue
		}
		ids := x.graph.Profiles[rng.IntN(len(x.graph.Profiles))]
		ref := ids[rng.IntN(len(ids))]
		pid, _, err := s.Resolve(ctx, tenant, ref)
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("seed %d forget %s of %v", seed, ref, ids)
		er, err := s.Forget(ctx, tenant, ref, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		forgotten++
		if er.ProfileID != pid || !slices.Equal(er.Identifiers, ids) || er.Already {
			t.Fatalf("%s: erasure %+v, want profile %s with identifiers %v", what, er, pid, ids)
		}
		check(t, s, tenant, expect(policy, withoutPerson(policy, events[:half], ids)), what)
		if m := redisstoretest.Mentions(t, s, tenant, append(append([]string{pid}, er.MergedFrom...), ids...)); len(m) > 0 {
			t.Fatalf("%s: the person is still in Redis: %v", what, m)
		}
		for _, id := range append([]string{pid}, ids...) {
			again, err := s.Forget(ctx, tenant, id, time.Now())
			if err != nil || !again.Already || again.ProfileID != pid || !slices.Equal(again.MergedFrom, er.MergedFrom) {
				t.Fatalf("%s: forget %s again = %+v, %v; want the recorded erasure of %s", what, id, again, err, pid)
			}
		}

		// The first half again under new offsets (a replay of the topic),
		// then the second half.
		replay := redisstoretest.Deliveries(rng, policy, events[:half], 1000)
		redisstoretest.PlaySequential(t, rng, s, tenant, replay, 20)
		rest := redisstoretest.Deliveries(rng, policy, events[half:], 2000)
		var items []redisstore.Item
		for _, its := range rest {
			items = append(items, its...)
		}
		res, err := s.Apply(ctx, tenant, items)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range res.Outcomes {
			about := slices.Contains(ids, items[i].Identifiers[0])
			if (o.Status == redisstore.StatusSuppressed) != about || (about && o.ProfileID != "") {
				t.Fatalf("%s: event %s with %v: outcome %+v; about the person: %v", what, items[i].EventID, items[i].Identifiers, o, about)
			}
			if about {
				suppressed++
			}
		}
		check(t, s, tenant, expect(policy, withoutPerson(policy, events, ids)), what+", then a replay and more events")
		if m := redisstoretest.Mentions(t, s, tenant, ids); len(m) > 0 {
			t.Fatalf("%s, then more events: a forgotten identifier is back in Redis: %v", what, m)
		}
	}
	t.Logf("%d runs, %d people forgotten, %d later events suppressed", runs, forgotten, suppressed)
	if !t.Skipped() && (forgotten == 0 || suppressed == 0) {
		t.Error("the runs forgot nobody or suppressed no later event")
	}
}

func TestIntegrationForgetUnknown(t *testing.T) {
	s, tenant := newStore(t)
	ctx := context.Background()
	if _, err := s.Forget(ctx, tenant, "email:nobody@example.com", time.Now()); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("unknown identifier: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Forget(ctx, tenant, "9b2f3c1e-0000-5000-8000-000000000000", time.Now()); !errors.Is(err, redisstore.ErrNotFound) {
		t.Errorf("unknown profile id: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Forget(ctx, tenant, "email:not an email", time.Now()); !errors.Is(err, redisstore.ErrBadRef) {
		t.Errorf("malformed identifier: err = %v, want ErrBadRef", err)
	}
}

// TestIntegrationForgetRedeliveryIsSuppressed: a batch redelivered after
// the erasure (its offsets applied, not yet committed) is answered from the
// outbox, which no longer names the person: their events come back as
// suppressed instead of being republished.
func TestIntegrationForgetRedeliveryIsSuppressed(t *testing.T) {
	s, tenant := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	items := []redisstore.Item{
		item("cx.interactions/0", 0, ev(t, tenant, "a1", "web", t0, "anonymous_id:anon-a")),
		item("cx.interactions/0", 1, ev(t, tenant, "a2", "web", t0.Add(time.Minute), "anonymous_id:anon-a", "email:ann@example.com")),
		item("cx.interactions/0", 2, ev(t, tenant, "b1", "web", t0, "email:bob@example.com")),
	}
	if _, err := s.Apply(ctx, tenant, items); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forget(ctx, tenant, "email:ann@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := s.Apply(ctx, tenant, items)
	if err != nil {
		t.Fatal(err)
	}
	want := []redisstore.Status{redisstore.StatusSuppressed, redisstore.StatusSuppressed, redisstore.StatusReplayed}
	for i, o := range res.Outcomes {
		if o.Status != want[i] {
			t.Errorf("redelivered %s: %s, want %s", items[i].EventID, o.Status, want[i])
		}
	}
	for _, r := range res.Records {
		if strings.Contains(r.Identifier, "ann") || slices.ContainsFunc(r.Identifiers, func(s string) bool { return strings.Contains(s, "ann") }) {
			t.Errorf("a redelivered record names the forgotten person: %+v", r)
		}
	}
	if m := redisstoretest.Mentions(t, s, tenant, []string{"ann@example.com", "anon-a"}); len(m) > 0 {
		t.Errorf("the person is still in Redis: %v", m)
	}
}
