package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// TestIntegrationBatchFoldsLikeOneByOne applies the same deliveries, many
// of them to the same few profiles and anchors, as one batch in one tenant
// and one event per call in another: the script folds a batch in Lua
// tables, reading and writing each hash once, and must end where folding
// event by event ends: the same statuses (applied or duplicate), the same
// partition of identifiers into profiles with the same states, and the
// states the batch returns are the ones stored. Small dedup limits make
// the event-id sets trim within a batch too.
func TestIntegrationBatchFoldsLikeOneByOne(t *testing.T) {
	runs := 25
	if testing.Short() {
		runs = 6
	}
	ctx := context.Background()
	for run := range runs {
		seed := runSeed(run)
		rng := rand.New(rand.NewPCG(seed, 3))
		policy := redisstoretest.RulesVariant(rng.IntN(3))
		cfg := redisstore.Default()
		if rng.IntN(2) == 0 {
			cfg.DedupWindow = 5 * time.Minute
			cfg.DedupMaxIDs = 3
		}
		s, tenantA := redisstoretest.NewWith(t, cfg, policy)
		_, tenantB := redisstoretest.NewWith(t, cfg, policy)
		what := fmt.Sprintf("seed %d", seed)

		events := randomEvents(t, rng, tenantA, 30+rng.IntN(60))
		var items []redisstore.Item
		for _, e := range events {
			for range 1 + rng.IntN(2) { // some sent twice: a client retry
				if it, ok := redisstore.NewItem("in/0", int64(len(items)), e, policy, profile.Default()); ok {
					items = append(items, it)
				}
			}
		}
		if len(items) == 0 {
			continue
		}
		batch, err := s.Apply(ctx, tenantA, items)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var one redisstore.Result
		for _, it := range items {
			r, err := s.Apply(ctx, tenantB, []redisstore.Item{it})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			one.Outcomes = append(one.Outcomes, r.Outcomes...)
		}

		for i, o := range batch.Outcomes {
			if w := one.Outcomes[i]; o.Status != w.Status {
				t.Fatalf("%s: item %d: batch %+v, one by one %+v", what, i, o, w)
			}
		}
		// The states the batch returned are the stored ones, version
		// included.
		for id, st := range batch.Profiles {
			_, stored, err := s.Profile(ctx, tenantA, id)
			if err != nil {
				t.Fatalf("%s: profile %s returned but not stored: %v", what, id, err)
			}
			if !maps.Equal(st, stored) {
				t.Fatalf("%s: profile %s returned\n %v\nstored\n %v", what, id, st, stored)
			}
		}
		// The same partition and states. (Which profile id survives a
		// re-derivation, merged-from fields and records may depend on how
		// the events were cut into calls, as they do without batching.)
		groupA, groupB := map[string][]string{}, map[string][]string{}
		for _, ref := range universe {
			idA, stA, errA := s.Resolve(ctx, tenantA, ref)
			idB, stB, errB := s.Resolve(ctx, tenantB, ref)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("%s: %s: batch %s (%v), one by one %s (%v)", what, ref, idA, errA, idB, errB)
			}
			if errA != nil {
				continue
			}
			groupA[idA] = append(groupA[idA], ref)
			groupB[idB] = append(groupB[idB], ref)
			if !maps.Equal(withoutMerged(stA), withoutMerged(stB)) {
				t.Fatalf("%s: %s:\nbatch %v\n  one %v", what, ref, withoutMerged(stA), withoutMerged(stB))
			}
		}
		for _, ref := range universe {
			idA, _, errA := s.Resolve(ctx, tenantA, ref)
			idB, _, _ := s.Resolve(ctx, tenantB, ref)
			if errA == nil && !slices.Equal(groupA[idA], groupB[idB]) {
				t.Fatalf("%s: %s: batch profile %v, one by one %v", what, ref, groupA[idA], groupB[idB])
			}
		}
		sa, _ := s.TenantStats(ctx, tenantA)
		sb, _ := s.TenantStats(ctx, tenantB)
		if sa.Profiles != sb.Profiles || sa.Identifiers != sb.Identifiers {
			t.Fatalf("%s: stats: batch %+v, one by one %+v", what, sa, sb)
		}
	}
}

// TestIntegrationPartialRedelivery redelivers part of a batch with new
// offsets after it, as a consumer does that crashed after committing some
// of a batch: the redelivered offsets replay what they recorded, the new
// ones apply. The outbox keeps one entry per call, so the entry holding
// the committed offsets is cut down, not kept whole: an offset below a
// later batch's first is old, never replayed. Entries of the earlier form,
// one per offset, are read too.
func TestIntegrationPartialRedelivery(t *testing.T) {
	s, tenant := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var all []redisstore.Item
	for i := range 8 {
		ids := []string{fmt.Sprintf("anonymous_id:a%d", i%3)}
		if i%2 == 1 {
			ids = append(ids, fmt.Sprintf("email:p%d@example.com", i%4))
		}
		all = append(all, item("in/0", int64(10+i), ev(t, tenant, fmt.Sprintf("e%d", i), "web", t0.Add(time.Duration(i)*time.Minute), ids...)))
	}
	first, err := s.Apply(ctx, tenant, all[:5]) // offsets 10..14
	if err != nil {
		t.Fatal(err)
	}
	recordsOf := func(r *redisstore.Result, ev string) []identity.Record {
		var out []identity.Record
		for _, rec := range r.Records {
			if rec.EventID == ev {
				out = append(out, rec)
			}
		}
		return out
	}
	// 12..16: 12..14 again, then two new ones.
	again, err := s.Apply(ctx, tenant, all[2:7])
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range again.Outcomes {
		if i < 3 {
			w := first.Outcomes[2+i]
			if o.Status != redisstore.StatusReplayed || o.ProfileID != w.ProfileID {
				t.Errorf("offset %d: got %+v, want replay of %+v", 12+i, o, w)
			}
			e := all[2+i].EventID
			if got, want := recordsOf(again, e), recordsOf(first, e); !reflect.DeepEqual(got, want) {
				t.Errorf("offset %d: replayed records\n %+v\nwant\n %+v", 12+i, got, want)
			}
		} else if o.Status != redisstore.StatusApplied {
			t.Errorf("offset %d: got %+v, want applied", 12+i, o)
		}
	}
	// 14..17: 12 and 13 are committed now; 14..16 replay.
	third, err := s.Apply(ctx, tenant, all[4:8])
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range third.Outcomes {
		if want := redisstore.StatusReplayed; i == 3 {
			if o.Status != redisstore.StatusApplied {
				t.Errorf("offset 17: got %+v, want applied", o)
			}
		} else if o.Status != want {
			t.Errorf("offset %d: got %+v, want replay", 14+i, o)
		}
	}
	for _, k := range []int{2, 3} { // 12, 13: below the last first offset
		res, err := s.Apply(ctx, tenant, all[k:k+1])
		if err != nil {
			t.Fatal(err)
		}
		if o := res.Outcomes[0]; o.Status != redisstore.StatusCommitted {
			t.Errorf("offset %d after a batch from 14: got %+v, want old", 10+k, o)
		}
	}

	// The earlier form: one member {"o", "p", "id"} per offset.
	p := "cx:{" + tenant + "}:"
	var fresh []redisstore.Item
	for i := range 3 {
		fresh = append(fresh, item("in/1", int64(i), ev(t, tenant, fmt.Sprintf("f%d", i), "store", t0, "anonymous_id:a0", fmt.Sprintf("phone:+4915112345%03d", i))))
	}
	rec, err := s.Apply(ctx, tenant, fresh)
	if err != nil {
		t.Fatal(err)
	}
	members, err := s.Client().ZRange(ctx, p+"ob:in/1", 0, -1).Result()
	if err != nil || len(members) != 1 {
		t.Fatalf("outbox of in/1: %v (%v), want one entry", members, err)
	}
	var entry struct {
		B []map[string]json.RawMessage `json:"b"`
	}
	if err := json.Unmarshal([]byte(members[0]), &entry); err != nil || len(entry.B) != 3 {
		t.Fatalf("outbox entry %s: %v", members[0], err)
	}
	s.Client().Del(ctx, p+"ob:in/1")
	for _, o := range entry.B {
		m, _ := json.Marshal(o)
		var off int64
		json.Unmarshal(o["o"], &off)
		s.Client().ZAdd(ctx, p+"ob:in/1", redis.Z{Score: float64(off), Member: string(m)})
	}
	replay, err := s.Apply(ctx, tenant, fresh)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range replay.Outcomes {
		if o.Status != redisstore.StatusReplayed || o.ProfileID != rec.Outcomes[i].ProfileID {
			t.Errorf("earlier form, item %d: got %+v, want replay of %+v", i, o, rec.Outcomes[i])
		}
	}
	if !reflect.DeepEqual(replay.Records, rec.Records) {
		t.Errorf("earlier form: replayed records\n %+v\nwant\n %+v", replay.Records, rec.Records)
	}
}
