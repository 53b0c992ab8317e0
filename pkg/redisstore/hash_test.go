package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// rawTraces are substrings every identifier of the property tests' universe
// shows when it is stored unhashed: the index field "type:value", the
// profile's "i:type:value", an edge listing it.
var rawTraces = []string{"@shop.test", "+49151", "anonymous_id:a", "user_id:u", "device_id:d"}

// TestIntegrationHashedResolutionMatchesReference plays random populations,
// as TestIntegrationResolutionMatchesReference does, through a store whose
// rules hash every identifier type, and checks that:
//   - the graph and the profiles equal the reference resolved over the
//     events as the resolver pseudonymises them (Policy.Pseudonymize);
//   - every identifier is found by its raw value and by its hash, and both
//     lead to the same profile;
//   - no key, field, value or member of the tenant holds a raw value.
func TestIntegrationHashedResolutionMatchesReference(t *testing.T) {
	runs := 30
	if testing.Short() {
		runs = 6
	}
	ctx := context.Background()
	for run := range runs {
		seed := runSeed(run)
		rng := rand.New(rand.NewPCG(seed, 1))
		policy := redisstoretest.HashingVariant(rng.IntN(3))
		s, tenant := redisstoretest.NewWith(t, redisstore.Default(), policy)
		events := randomEvents(t, rng, tenant, 20+rng.IntN(60))
		hashed := make([]*event.Event, len(events))
		for i, e := range events {
			c := *e
			c.Identifiers = slices.Clone(e.Identifiers)
			policy.Pseudonymize(tenant, c.Identifiers)
			hashed[i] = &c
		}
		x := expect(policy, hashed)
		what := fmt.Sprintf("seed %d", seed)
		// The items come from the raw events: NewItem hashes them itself.
		redisstoretest.PlaySequential(t, rng, s, tenant, redisstoretest.Deliveries(rng, policy, events, 0), 20)
		check(t, s, tenant, x, what)

		for _, raw := range universe {
			id, _ := event.ParseIdentifier(raw)
			c, err := policy.Canonical(tenant, id)
			if err != nil || !identity.IsHashed(c.Value) {
				t.Fatalf("%s: canonical %s = %v, %v", what, raw, c, err)
			}
			byRaw, _, errRaw := s.Resolve(ctx, tenant, raw)
			byHash, _, errHash := s.Resolve(ctx, tenant, c.String())
			if byRaw != byHash || (errRaw == nil) != (errHash == nil) {
				t.Fatalf("%s: %s finds %q (%v), its hash %q (%v)", what, raw, byRaw, errRaw, byHash, errHash)
			}
		}
		if m := redisstoretest.Mentions(t, s, tenant, rawTraces); len(m) > 0 {
			t.Fatalf("%s: raw identifiers stored: %v", what, m)
		}
	}
}
