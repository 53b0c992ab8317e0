package redisstoretest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// RulesVariant returns rules that exercise merge protection differently by
// variant (taken modulo 3): the defaults; one email and one device per
// profile; a cap of 4 identifiers per profile.
func RulesVariant(variant int) *identity.Policy {
	return identity.MustCompile(rulesVariant(variant))
}

func rulesVariant(variant int) identity.Rules {
	r := identity.DefaultRules()
	switch variant % 3 {
	case 1:
		r.Types[event.IDEmail] = identity.TypeRule{Priority: 90, Limit: 1}
		r.Types[event.IDDeviceID] = identity.TypeRule{Priority: 40, Limit: 1, Normalize: event.NormLower}
	case 2:
		r.MaxIdentifiers = 4
	}
	return r
}

// HashKey is the identifier hashing key of HashingVariant.
const HashKey = "redisstoretest-key-0123456789abcdef"

// HashingVariant is RulesVariant with every type it names stored hashed
// (user_id, email, phone, device_id, anonymous_id and the rest) under
// HashKey.
func HashingVariant(variant int) *identity.Policy {
	r := rulesVariant(variant)
	for typ, rule := range r.Types {
		rule.Hash = true
		r.Types[typ] = rule
	}
	r.HashKey = HashKey
	return identity.MustCompile(r)
}

// Deliveries spreads events over three partitions ("cx.interactions/0..2")
// as producers keyed by different identifiers would, one in ten sent twice
// (a client retry), in a random order. Offsets per partition start at base.
// Events with only blocked identifiers are left out, as the resolver
// dead-letters them.
func Deliveries(rng *rand.Rand, p *identity.Policy, events []*event.Event, base int64) map[string][]redisstore.Item {
	type delivery struct {
		source string
		e      *event.Event
	}
	var ds []delivery
	for _, e := range events {
		ds = append(ds, delivery{fmt.Sprintf("cx.interactions/%d", rng.IntN(3)), e})
		if rng.IntN(10) == 0 {
			ds = append(ds, delivery{fmt.Sprintf("cx.interactions/%d", rng.IntN(3)), e})
		}
	}
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	out := map[string][]redisstore.Item{}
	for _, d := range ds {
		if it, ok := redisstore.NewItem(d.source, base+int64(len(out[d.source])), d.e, p, profile.Default()); ok {
			out[d.source] = append(out[d.source], it)
		}
	}
	return out
}

// PlaySequential interleaves the partitions, each in offset order, and
// applies them in random batches of 1 to maxBatch, as one resolver reading
// every partition would. It returns how many components were re-derived.
func PlaySequential(t testing.TB, rng *rand.Rand, s *redisstore.Store, tenant string, parts map[string][]redisstore.Item, maxBatch int) int {
	t.Helper()
	var items []redisstore.Item
	for len(parts) > 0 {
		for src, its := range parts {
			n := min(len(its), 1+rng.IntN(4))
			items = append(items, its[:n]...)
			if parts[src] = its[n:]; len(parts[src]) == 0 {
				delete(parts, src)
			}
		}
	}
	rederived := 0
	for len(items) > 0 {
		n := min(len(items), 1+rng.IntN(maxBatch))
		res, err := s.Apply(context.Background(), tenant, items[:n])
		if err != nil {
			t.Fatal(err)
		}
		rederived += res.Rederived
		items = items[n:]
	}
	return rederived
}
