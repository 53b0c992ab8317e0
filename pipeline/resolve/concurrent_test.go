package resolve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/identity/identitytest"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
)

// TestIntegrationConcurrentResolversMatchReference runs three resolver
// processes of one consumer group on a four-partition topic, the second
// with two consumer loops (four members in all). Each event is
// keyed by its strongest identifier, so one person's events spread over the
// partitions and reach the resolvers in no particular order, while the
// group rebalances as the resolvers join. The identity graph they build in
// Redis must be the one the reference model computes from the events in
// canonical order, under merge protection (two user ids, two emails and
// shared devices make rules fire).
func TestIntegrationConcurrentResolversMatchReference(t *testing.T) {
	kcfg := kafkaiotest.Config(t, 4)
	store, tenant := redisstoretest.New(t)
	ctx := context.Background()
	policy := identity.MustCompile(identity.DefaultRules())
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CXSTREAM_TEST_SEED"), 10, 64); err == nil {
		seed = s // replay a failure: the failure message names its seed
	}
	rng := rand.New(rand.NewPCG(seed, 3))

	universe := []string{"anonymous_id:a1", "anonymous_id:a2", "anonymous_id:a3", "anonymous_id:a4",
		"email:x@shop.test.", "email:y@shop.test.", "phone:+49151123456", "user_id:u1", "user_id:u2",
		"device_id:d1", "device_id:d2"}
	t0 := time.Now().UTC().Add(-2 * time.Hour)
	var msgs []kafka.Message
	var obs []identitytest.Observation
	for i := range 300 {
		e := &event.Event{EventID: fmt.Sprintf("ev-%03d", i), Tenant: tenant, Channel: "web", Type: event.TypeTrack,
			Name: "Viewed", EventTime: t0.Add(time.Duration(rng.IntN(3600)) * time.Second), ReceivedAt: t0.Add(time.Hour)}
		// Ten households of identifiers; now and then an identifier of
		// another household (a shared device, a mistyped email) bridges them.
		g := rng.IntN(10)
		for range 1 + rng.IntN(3) {
			h := g
			if rng.IntN(10) == 0 {
				h = rng.IntN(10)
			}
			id, _ := event.ParseIdentifier(universe[rng.IntN(len(universe))] + strconv.Itoa(h))
			e.Identifiers = append(e.Identifiers, id)
		}
		if err := event.Prepare(e, event.DefaultLimits()); err != nil {
			t.Fatal(err)
		}
		key, _ := policy.Strongest(e.Identifiers)
		v, _ := json.Marshal(e)
		msgs = append(msgs, kafka.Message{Topic: kcfg.Topics.Interactions, Key: []byte(key.String()), Value: v})
		ids := make([]string, len(e.Identifiers))
		for j, id := range e.Identifiers {
			ids[j] = id.String()
		}
		obs = append(obs, identitytest.Observation{EventID: e.EventID, At: e.EventTime.UnixMilli(), IDs: ids})
	}
	want := identitytest.Resolve(policy, obs)
	if len(want.Blocks) == 0 {
		t.Fatalf("seed %d: the population fires no rule; the test would prove little", seed)
	}
	w := kafkaio.NewWriter(kcfg)
	defer w.Close()
	// Small writes, so that the events are spread over many fetches.
	for len(msgs) > 0 {
		n := min(len(msgs), 1+rng.IntN(10))
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}

	cfg := resolve.Default()
	cfg.Group += "." + strconv.FormatUint(seed, 36)
	cfg.BatchSize = 1 + rng.IntN(50)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 3)
	for i := range 3 {
		cfg.Consumers = 1 + i%2
		r, err := resolve.New(cfg, kcfg, identity.DefaultRules(), profile.Default(), store, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- r.Run(runCtx) }()
	}
	defer func() {
		stop()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("resolver: %v", err)
			}
		}
	}()

	// Wait until every event is applied, then compare. A resolver
	// publishes an event on cx.timeline only after its batch is applied in
	// Redis, so 300 distinct event ids there mean the graph is final.
	// (Summing the profiles' event counters instead read them one by one
	// while merges moved events between profiles, and could add up to 300
	// early.)
	tl := kafka.NewReader(kafka.ReaderConfig{Brokers: kcfg.Brokers, GroupID: "timeline." + strconv.FormatUint(seed, 36),
		Topic: kcfg.Topics.Timeline, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer tl.Close()
	tctx, cancelRead := context.WithTimeout(ctx, 60*time.Second)
	defer cancelRead()
	applied := map[string]bool{}
	for len(applied) < 300 {
		m, err := tl.ReadMessage(tctx)
		if err != nil {
			t.Fatalf("seed %d: only %d of 300 events applied after 60s: %v", seed, len(applied), err)
		}
		var e event.Resolved
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		applied[e.EventID] = true
	}
	seen := map[string]bool{}
	for _, ids := range want.Profiles {
		pid, _, err := store.Resolve(ctx, tenant, ids[0])
		if err != nil || seen[pid] {
			t.Fatalf("seed %d: %s resolves to %s (%v), shared with another profile: %v", seed, ids[0], pid, err, seen[pid])
		}
		seen[pid] = true
		for _, id := range ids[1:] {
			if other, _, err := store.Resolve(ctx, tenant, id); err != nil || other != pid {
				t.Fatalf("seed %d: %s resolves to %s (%v), want %s with %v", seed, id, other, err, pid, ids)
			}
		}
	}
	for _, id := range want.Unlinked {
		if _, _, err := store.Resolve(ctx, tenant, id); !errors.Is(err, redisstore.ErrNotFound) {
			t.Fatalf("seed %d: %s should be in no profile: %v", seed, id, err)
		}
	}
	t.Logf("seed %d: %d profiles, %d blocked identifiers, batch size %d", seed, len(want.Profiles), len(want.Blocks), cfg.BatchSize)
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
