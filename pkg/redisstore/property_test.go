package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/identity/identitytest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// expected is what the reference says the store must hold after events.
type expected struct {
	graph  *identitytest.Graph
	states []profile.State // per graph profile, without merged-from fields
}

// expect runs the reference model: identitytest.Resolve for the partition,
// and per profile the fold of every distinct event anchored in it (its
// strongest identifier is the profile's) plus the identifier link times.
func expect(p *identity.Policy, events []*event.Event) expected {
	return expectCut(p, events, nil)
}

// expectCut is expect with unmerge cuts.
func expectCut(p *identity.Policy, events []*event.Event, cuts map[string][]string) expected {
	obs := make([]identitytest.Observation, 0, len(events))
	seen := map[string]bool{}
	var distinct []*event.Event
	for _, e := range events {
		if seen[e.EventID] {
			continue
		}
		seen[e.EventID] = true
		distinct = append(distinct, e)
		usable, _ := p.Usable(e.Identifiers)
		ids := make([]string, len(usable))
		for i, id := range usable {
			ids[i] = id.String()
		}
		obs = append(obs, identitytest.Observation{EventID: e.EventID, At: e.EventTime.UnixMilli(), IDs: ids})
	}
	g := identitytest.ResolveWithCuts(p, obs, cuts)
	x := expected{graph: g, states: make([]profile.State, len(g.Profiles))}
	for i, ids := range g.Profiles {
		st := profile.State{}
		for _, id := range ids {
			st[profile.IDField(id)] = strconv.FormatInt(g.Linked[id], 10)
		}
		x.states[i] = st
	}
	for k, e := range distinct {
		st := x.states[g.ProfileOf(p, obs[k].IDs)]
		for _, u := range profile.Default().Updates(e) {
			st.Apply(u)
		}
	}
	return x
}

// universe is small so that merges, and conflicts between the two user ids
// and the emails, happen often.
var universe = []string{"anonymous_id:a1", "anonymous_id:a2", "anonymous_id:a3", "anonymous_id:a4", "anonymous_id:a5",
	"email:x@shop.test", "email:y@shop.test", "email:z@shop.test", "phone:+4915112345678", "phone:+4915112345679",
	"user_id:u1", "user_id:u2", "user_id:u3", "device_id:d1", "device_id:d2"}

// randomEvents draws events over the universe, with coarse times so that
// equal stamps need the tie-break.
func randomEvents(t testing.TB, rng *rand.Rand, tenant string, n int) []*event.Event {
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
		// Every fold rule the script implements: set_once (o:), increments
		// and the sets that prune them (c:, w:t:), unset, sums of amounts.
		switch rng.IntN(4) {
		case 0:
			e.TraitsSetOnce = map[string]json.RawMessage{"source": json.RawMessage(strconv.Quote(fmt.Sprint("s", rng.IntN(3))))}
		case 1:
			e.TraitsIncrement = map[string]json.Number{"points": json.Number(fmt.Sprintf("%d.5", rng.IntN(9)-3))}
		case 2:
			e.Traits["points"] = json.RawMessage(strconv.Itoa(100 * rng.IntN(3)))
		case 3:
			delete(e.Traits, "plan")
			e.TraitsUnset = []string{"plan"}
		}
		if rng.IntN(4) == 0 {
			e.Name = "Order Completed"
			e.Properties = json.RawMessage(fmt.Sprintf(`{"revenue": %d.99, "currency": "EUR"}`, rng.IntN(50)))
		}
		events[i] = e
	}
	return events
}

// runSeed is the random seed of a property run: the clock, or
// CXSTREAM_TEST_SEED to reproduce a failure (every test names the seed of
// the run that failed).
func runSeed(run int) uint64 {
	if v, err := strconv.ParseUint(os.Getenv("CXSTREAM_TEST_SEED"), 10, 64); err == nil {
		return v
	}
	return uint64(time.Now().UnixNano()) + uint64(run)
}

// rederived counts re-derivations across the property runs, to show that
// the runs exercise them.
var rederived atomic.Int64

// playConcurrent gives each partition its own goroutine, as resolver
// processes of one consumer group would; their batches interleave in Redis
// in whatever order the scheduler makes.
func playConcurrent(t *testing.T, seed uint64, s *redisstore.Store, tenant string, parts map[string][]redisstore.Item) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(parts))
	i := uint64(0)
	for _, items := range parts {
		i++
		rng := rand.New(rand.NewPCG(seed, i))
		wg.Go(func() {
			for len(items) > 0 {
				n := min(len(items), 1+rng.IntN(8))
				res, err := s.Apply(context.Background(), tenant, items[:n])
				if err != nil {
					errs <- err
					return
				}
				rederived.Add(int64(res.Rederived))
				items = items[n:]
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// withoutMerged leaves out the merged-from fields and the version, which
// depend on arrival order.
func withoutMerged(st profile.State) profile.State {
	out := profile.State{}
	for f, v := range st {
		if !strings.HasPrefix(f, "m:") && f != profile.FieldVersion {
			out[f] = v
		}
	}
	return out
}

// check compares the store's graph and profiles with the reference.
func check(t *testing.T, s *redisstore.Store, tenant string, x expected, what string) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for i, ids := range x.graph.Profiles {
		pid, st, err := s.Resolve(ctx, tenant, ids[0])
		if err != nil {
			t.Fatalf("%s: resolve %s: %v", what, ids[0], err)
		}
		if seen[pid] {
			t.Fatalf("%s: two reference profiles share profile %s (at %v)", what, pid, ids)
		}
		seen[pid] = true
		for _, id := range ids[1:] {
			if other, _, err := s.Resolve(ctx, tenant, id); err != nil || other != pid {
				t.Fatalf("%s: %s resolves to %s (%v), want %s like %s; reference profile %v",
					what, id, other, err, pid, ids[0], ids)
			}
		}
		if got, want := withoutMerged(st), x.states[i]; !maps.Equal(got, want) {
			t.Fatalf("%s: profile %v:\n got %v\nwant %v", what, ids, got, want)
		}
	}
	for _, id := range x.graph.Unlinked {
		if pid, _, err := s.Resolve(ctx, tenant, id); !errors.Is(err, redisstore.ErrNotFound) {
			t.Fatalf("%s: %s should be in no profile (every event dropped it), got %s (%v)", what, id, pid, err)
		}
	}
	stats, err := s.TenantStats(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(x.graph.Of) + len(x.graph.Unlinked)); stats.Identifiers != want {
		t.Fatalf("%s: %d identifiers indexed, want %d", what, stats.Identifiers, want)
	}
	if stats.Profiles != int64(len(x.graph.Profiles)) {
		t.Fatalf("%s: %d live profiles counted, want %d", what, stats.Profiles, len(x.graph.Profiles))
	}
}

// TestIntegrationResolutionMatchesReference plays random populations in
// random orders, with client retries, through one sequential applier and
// through concurrent appliers, under random rules, and compares both with
// the reference model: the same partition of identifiers into profiles, the
// same identifiers in no profile, the same profile states.
func TestIntegrationResolutionMatchesReference(t *testing.T) {
	runs := 60
	if testing.Short() {
		runs = 10
	}
	blocks := 0
	defer func() {
		t.Logf("%d runs: %d blocked identifiers in the reference, %d re-derivations", runs, blocks, rederived.Load())
		if !t.Skipped() && (blocks == 0 || rederived.Load() == 0) {
			t.Error("the runs exercised no merge protection or no re-derivation")
		}
	}()
	for run := range runs {
		seed := runSeed(run)
		rng := rand.New(rand.NewPCG(seed, 1))
		policy := redisstoretest.RulesVariant(rng.IntN(3))
		cfg := redisstore.Default()
		s, tenantA := redisstoretest.NewWith(t, cfg, policy)
		_, tenantB := redisstoretest.NewWith(t, cfg, policy)
		events := randomEvents(t, rng, tenantA, 20+rng.IntN(60))
		x := expect(policy, events)
		blocks += len(x.graph.Blocks)
		rederived.Add(int64(redisstoretest.PlaySequential(t, rng, s, tenantA, redisstoretest.Deliveries(rng, policy, events, 0), 20)))
		check(t, s, tenantA, x, fmt.Sprintf("seed %d sequential", seed))
		eventsB := make([]*event.Event, len(events))
		for i, e := range events {
			c := *e
			c.Tenant = tenantB
			eventsB[i] = &c
		}
		playConcurrent(t, seed, s, tenantB, redisstoretest.Deliveries(rng, policy, eventsB, 0))
		check(t, s, tenantB, x, fmt.Sprintf("seed %d concurrent", seed))
	}
}

// TestIntegrationUnmergeMatchesReference plays random populations, takes a
// random identifier out of its profile, and compares the store with the
// reference resolved under the same cut: the split is exactly what
// resolution would have produced without that link. More events played
// afterwards keep respecting the cut.
func TestIntegrationUnmergeMatchesReference(t *testing.T) {
	runs := 40
	if testing.Short() {
		runs = 8
	}
	ctx := context.Background()
	splits := 0
	for run := range runs {
		seed := uint64(time.Now().UnixNano()) + uint64(run)
		rng := rand.New(rand.NewPCG(seed, 2))
		policy := redisstoretest.RulesVariant(rng.IntN(3))
		s, tenant := redisstoretest.NewWith(t, redisstore.Default(), policy)
		events := randomEvents(t, rng, tenant, 20+rng.IntN(40))
		half := len(events) / 2
		redisstoretest.PlaySequential(t, rng, s, tenant, redisstoretest.Deliveries(rng, policy, events[:half], 0), 20)
		x := expect(policy, events[:half])
		var cands [][]string
		for _, ids := range x.graph.Profiles {
			if len(ids) > 1 {
				cands = append(cands, ids)
			}
		}
		if len(cands) == 0 {
			continue
		}
		ids := cands[rng.IntN(len(cands))]
		cutID := ids[rng.IntN(len(ids))]
		pid, _, err := s.Resolve(ctx, tenant, cutID)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := event.ParseIdentifier(cutID)
		sp, err := s.Unmerge(ctx, tenant, pid, id, time.Now())
		if err != nil {
			t.Fatalf("seed %d: unmerge %s: %v", seed, cutID, err)
		}
		splits++
		cuts := map[string][]string{}
		for _, other := range ids {
			if other != cutID {
				cuts[cutID] = append(cuts[cutID], other)
			}
		}
		what := fmt.Sprintf("seed %d unmerge %s from %v", seed, cutID, ids)
		after := expectCut(policy, events[:half], cuts)
		check(t, s, tenant, after, what)
		if got, _, err := s.Resolve(ctx, tenant, cutID); got != sp.ProfileID || (got == "") != errors.Is(err, redisstore.ErrNotFound) {
			t.Fatalf("%s: the identifier resolves to %q (%v), Unmerge said %q", what, got, err, sp.ProfileID)
		}
		if len(sp.Records) == 0 || sp.Records[0].Kind != identity.KindCut {
			t.Fatalf("%s: records %+v do not start with identifier_cut", what, sp.Records)
		}
		// Later events, some of them late, respect the cut.
		rest := redisstoretest.Deliveries(rng, policy, events[half:], 1000) // past the first half's offsets
		redisstoretest.PlaySequential(t, rng, s, tenant, rest, 20)
		check(t, s, tenant, expectCut(policy, events, cuts), what+", then more events")
	}
	t.Logf("%d runs, %d unmerges checked", runs, splits)
	if splits == 0 && !t.Skipped() {
		t.Error("no run had a profile to split")
	}
}
