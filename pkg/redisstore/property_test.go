package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// reference is the straightforward model of resolution and fold that the
// Redis script must agree with: identifiers of one event belong together
// (union-find), and a profile is the fold of every distinct event of its
// component.
type reference struct {
	parent map[string]string
}

func (r *reference) find(x string) string {
	for r.parent[x] != x {
		r.parent[x] = r.parent[r.parent[x]]
		x = r.parent[x]
	}
	return x
}

func (r *reference) union(a, b string) { r.parent[r.find(a)] = r.find(b) }

// expect returns, per component root, the identifiers and the folded state
// (without merged-from fields, which depend on the order of merges).
func expect(events []*event.Event) (map[string][]string, map[string]profile.State) {
	r := &reference{parent: map[string]string{}}
	for _, e := range events {
		for _, id := range e.Identifiers {
			if _, ok := r.parent[id.String()]; !ok {
				r.parent[id.String()] = id.String()
			}
			r.union(id.String(), e.Identifiers[0].String())
		}
	}
	members := map[string][]string{}
	for id := range r.parent {
		members[r.find(id)] = append(members[r.find(id)], id)
	}
	states := map[string]profile.State{}
	for _, e := range events {
		root := r.find(e.Identifiers[0].String())
		st := states[root]
		if st == nil {
			st = profile.State{}
			states[root] = st
		}
		for _, u := range profile.Updates(e) {
			st.Apply(u)
		}
		for _, id := range e.Identifiers {
			st.Apply(profile.Update{Field: profile.IDField(id.String()), Value: strconv.FormatInt(e.EventTime.UnixMilli(), 10)})
		}
	}
	return members, states
}

type delivery struct {
	source string
	e      *event.Event
}

// randomEvents draws events over a small identifier universe so that many
// merges happen, with coarse times so that equal stamps need the tie-break.
func randomEvents(t *testing.T, rng *rand.Rand, tenant string, n int) []*event.Event {
	universe := []string{"anonymous_id:a1", "anonymous_id:a2", "anonymous_id:a3", "anonymous_id:a4", "anonymous_id:a5",
		"email:x@shop.test", "email:y@shop.test", "email:z@shop.test", "phone:+4915112345678", "phone:+4915112345679",
		"user_id:u1", "user_id:u2", "device_id:d1", "device_id:d2"}
	channels := []string{"web", "mobile", "store", "call_center", "email"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]*event.Event, n)
	for i := range events {
		k := 1 + rng.IntN(3)
		ids := make([]string, k)
		for j := range ids {
			ids[j] = universe[rng.IntN(len(universe))]
		}
		at := t0.Add(time.Duration(rng.IntN(20)) * time.Minute)
		e := ev(t, tenant, fmt.Sprintf("ev-%03d", i), channels[rng.IntN(len(channels))], at, ids...)
		e.Traits = map[string]json.RawMessage{"plan": json.RawMessage(strconv.Quote(fmt.Sprintf("plan-%d", rng.IntN(4))))}
		if rng.IntN(5) == 0 {
			e.Type = event.TypeIdentify
		}
		events[i] = e
	}
	return events
}

// play delivers events (and some duplicates) over three partitions in a
// random interleaving and random batch sizes, as concurrent producers and a
// consumer group would.
func play(t *testing.T, rng *rand.Rand, s *redisstore.Store, tenant string, events []*event.Event) {
	t.Helper()
	var ds []delivery
	for _, e := range events {
		ds = append(ds, delivery{fmt.Sprintf("in/%d", rng.IntN(3)), e})
		if rng.IntN(10) == 0 { // a client retry of the same event
			ds = append(ds, delivery{fmt.Sprintf("in/%d", rng.IntN(3)), e})
		}
	}
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	offsets := map[string]int64{}
	var items []redisstore.Item
	for _, d := range ds {
		items = append(items, item(d.source, offsets[d.source], d.e))
		offsets[d.source]++
	}
	for len(items) > 0 {
		n := min(len(items), 1+rng.IntN(20))
		if _, err := s.Apply(context.Background(), tenant, items[:n]); err != nil {
			t.Fatal(err)
		}
		items = items[n:]
	}
}

func withoutMerged(st profile.State) profile.State {
	out := profile.State{}
	for f, v := range st {
		if !strings.HasPrefix(f, "m:") {
			out[f] = v
		}
	}
	return out
}

func TestIntegrationResolutionMatchesReference(t *testing.T) {
	s, tenantA := newStore(t)
	_, tenantB := newStore(t)
	ctx := context.Background()
	for run := range 20 {
		seed := uint64(time.Now().UnixNano()) + uint64(run)
		rng := rand.New(rand.NewPCG(seed, 1))
		a, b := fmt.Sprintf("%s-%d", tenantA, run), fmt.Sprintf("%s-%d", tenantB, run)
		// Same events (ids, times) in two tenants, played in different orders.
		events := randomEvents(t, rng, a, 40+rng.IntN(40))
		members, states := expect(events)
		play(t, rng, s, a, events)
		eventsB := make([]*event.Event, len(events))
		for i, e := range events {
			c := *e
			c.Tenant = b
			eventsB[i] = &c
		}
		play(t, rng, s, b, eventsB)
		for _, tenant := range []string{a, b} {
			seen := map[string]bool{}
			for root, ids := range members {
				slices.Sort(ids)
				pid, st, err := s.Resolve(ctx, tenant, ids[0])
				if err != nil {
					t.Fatalf("seed %d tenant %s: resolve %s: %v", seed, tenant, ids[0], err)
				}
				if seen[pid] {
					t.Fatalf("seed %d: two components share profile %s", seed, pid)
				}
				seen[pid] = true
				for _, id := range ids[1:] {
					if other, _, err := s.Resolve(ctx, tenant, id); err != nil || other != pid {
						t.Fatalf("seed %d: %s resolves to %s (%v), want %s like %s", seed, id, other, err, pid, ids[0])
					}
				}
				if got, want := withoutMerged(st), states[root]; !maps.Equal(got, want) {
					t.Fatalf("seed %d tenant %s component %v:\n got %v\nwant %v", seed, tenant, ids, got, want)
				}
			}
			stats, err := s.TenantStats(ctx, tenant)
			if err != nil {
				t.Fatal(err)
			}
			var nids int
			for _, ids := range members {
				nids += len(ids)
			}
			if stats.Identifiers != int64(nids) {
				t.Fatalf("seed %d: %d identifiers indexed, want %d", seed, stats.Identifiers, nids)
			}
			checkCounters(t, s, tenant, len(members))
		}
		redisstoretest.DeleteTenant(t, s, a)
		redisstoretest.DeleteTenant(t, s, b)
	}
}

// checkCounters compares the tenant counters with the reference partition.
func checkCounters(t *testing.T, s *redisstore.Store, tenant string, components int) {
	t.Helper()
	st, err := s.TenantStats(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	if st.Profiles != int64(components) {
		t.Fatalf("tenant %s counts %d live profiles, want %d components", tenant, st.Profiles, components)
	}
}
