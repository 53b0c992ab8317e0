package resolve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// BenchmarkResolveBatch measures the resolver's Go-side work on a batch of
// 1,000 events from 500 customers with about 15 events of history each,
// without Redis and Kafka: decoding and preparing the messages, the
// identity policy and the store items (NewItem: identifiers, profile
// updates), then, with the store's answer, rendering the touched profiles,
// activation (segments under the shipped defaults, timers, alerts,
// building the triggers of the enqueued transitions) and encoding the
// cx.timeline, cx.identity and cx.profiles messages. Reported per event,
// in wall time and in the process's CPU time (GC included).
//
// The store is an in-memory stand-in for this micro-benchmark only: Apply
// returns the answer recorded for the batch (the states a Go fold of the
// history and the batch gives), and Activate diffs the evaluations
// against the membership it remembers ("returning": the same customers
// every batch, so memberships rarely change; "new": it forgets, so every
// profile enters its segments and a lifecycle stage each batch). What the
// real store costs is BenchmarkActivate's and pkg/redisstore's business.
func BenchmarkResolveBatch(b *testing.B) {
	b.Run("returning", func(b *testing.B) { benchmarkResolveBatch(b, false) })
	b.Run("new", func(b *testing.B) { benchmarkResolveBatch(b, true) })
}

func benchmarkResolveBatch(b *testing.B, forget bool) {
	const tenant, customers, batchSize, history = "bench", 500, 1000, 15
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	model := profile.Default()
	rules := identity.DefaultRules()
	policy, err := rules.Compile()
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 9))
	gen := benchEvents{rng: rng, tenant: tenant, now: now}
	var past []*event.Event
	for i := range customers * history {
		past = append(past, gen.event(i%customers))
	}
	msgs := make([]kafka.Message, batchSize)
	for i := range msgs {
		v, err := json.Marshal(gen.event(i % customers))
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = kafka.Message{Topic: "cx.interactions", Partition: i % 4, Offset: int64(i / 4), Value: v, Time: now}
	}
	store := newMemStore(b, tenant, policy, model, past, msgs)
	acts := &memActivations{forget: forget, known: map[string]string{}}
	segs, err := segment.Compile(segment.Default())
	if err != nil {
		b.Fatal(err)
	}
	kcfg := kafkaio.Default()
	act, err := NewActivator(segs, trigger.Default(), model, acts, kcfg.Topics.Triggers, DefaultTimers(), nil)
	if err != nil {
		b.Fatal(err)
	}
	act.now = func() time.Time { return now }
	r, err := New(Default(), kcfg, rules, model, store, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	r.now = func() time.Time { return now }
	r.WithActivation(act)
	ctx := context.Background()
	var out []kafka.Message
	if out, _, err = r.resolve(ctx, ctx, msgs); err != nil { // remembers the memberships
		b.Fatal(err)
	}
	counts := map[string]int{}
	for _, m := range out {
		counts[m.Topic]++
	}
	b.Logf("%d messages: %v", len(out), counts)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, _, err := r.resolve(ctx, ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	cpu = cpuTime() - cpu
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize)/1e3, "µs/event")
	if cpu > 0 { // the process's CPU time, GC included: steadier than wall time on a shared machine
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batchSize)/1e3, "cpu-µs/event")
	}
}

// benchEvents generates a web shop's customers' events: page views,
// product views and carts, orders, identifies with traits, surveys with
// feedback, over the last 60 days.
type benchEvents struct {
	rng    *rand.Rand
	tenant string
	now    time.Time
	seq    int
}

func (g *benchEvents) event(c int) *event.Event {
	g.seq++
	at := g.now.Add(-time.Duration(g.rng.IntN(60*24*60)) * time.Minute)
	channels := []string{"web", "web", "web", "mobile", "store", "email"}
	e := &event.Event{
		EventID: fmt.Sprintf("ev-%08d-%d", g.seq, g.rng.Uint32()), Tenant: g.tenant, Channel: channels[g.rng.IntN(len(channels))],
		Type: event.TypeTrack, EventTime: at, ReceivedAt: g.now,
		Identifiers: []event.Identifier{{Type: "anonymous_id", Value: fmt.Sprintf("anon-%d-%d", c, g.rng.IntN(3))}},
		Context: json.RawMessage(fmt.Sprintf(`{"ip":"10.0.%d.%d","locale":"de-DE","userAgent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",`+
			`"location":{"country":"DE","city":"Berlin"},"campaign":{"source":"newsletter","medium":"email"},"session_id":"s-%d-%d"}`,
			c%250, g.rng.IntN(250), c, g.rng.IntN(8))),
	}
	if g.rng.IntN(2) == 0 {
		e.Identifiers = append(e.Identifiers, event.Identifier{Type: "email", Value: fmt.Sprintf(" Customer.%d@Example.COM", c)})
	}
	if g.rng.IntN(5) == 0 {
		e.Identifiers = append(e.Identifiers, event.Identifier{Type: "phone", Value: fmt.Sprintf("+49 (151) %08d", c)})
	}
	if g.rng.IntN(4) == 0 {
		e.Identifiers = append(e.Identifiers, event.Identifier{Type: "user_id", Value: fmt.Sprintf("u%d", c)})
	}
	switch k := g.rng.IntN(20); {
	case k < 6:
		e.Type, e.Name = event.TypePage, "Product Listing"
		e.Properties = json.RawMessage(`{"url":"https://shop.example.com/c/shoes?page=2","title":"Shoes","referrer":"https://www.example.org/"}`)
	case k < 10:
		e.Name = "Product Viewed"
		e.Properties = json.RawMessage(fmt.Sprintf(`{"product_id":"SKU-%d","name":"Trail Runner Shoe","price":129.0,"currency":"EUR","category":"shoes"}`, 1000+g.rng.IntN(50)))
	case k < 13:
		e.Name = "Product Added"
		e.Properties = json.RawMessage(fmt.Sprintf(`{"product_id":"SKU-%d","price":89.5,"quantity":1,"currency":"EUR"}`, 1000+g.rng.IntN(50)))
	case k < 15:
		e.Name = "Order Completed"
		e.Properties = json.RawMessage(fmt.Sprintf(`{"order_id":"o-%d","revenue":%d.90,"currency":"USD","products":[{"product_id":"SKU-1001","price":129,"quantity":1},{"product_id":"SKU-1005","price":19,"quantity":2}]}`,
			g.seq, 20+g.rng.IntN(300)))
	case k < 16:
		e.Name = "Survey Responded"
		e.Properties = json.RawMessage(fmt.Sprintf(`{"nps":%d,"feedback":"The delivery was late and the box was damaged, not happy at all"}`, g.rng.IntN(11)))
	case k < 18:
		e.Type = event.TypeIdentify
		e.Traits = map[string]json.RawMessage{
			"name":       json.RawMessage(fmt.Sprintf(`"Customer %d"`, c)),
			"email":      json.RawMessage(fmt.Sprintf(`"customer.%d@example.com"`, c)),
			"plan":       json.RawMessage([]string{`"free"`, `"pro"`}[g.rng.IntN(2)]),
			"address":    json.RawMessage(`{"country":"DE","city":"Hamburg","street":"Hauptstr. 1"}`),
			"newsletter": json.RawMessage(`true`),
		}
		e.TraitsIncrement = map[string]json.Number{"logins": "1"}
	default:
		e.Name = "Email Opened"
		e.Properties = json.RawMessage(`{"campaign_id":"spring-sale","subject":"Spring sale"}`)
	}
	return e
}

// memStore answers Apply with the result recorded for the batch.
type memStore struct {
	res *redisstore.Result
}

// newMemStore folds the past events and the batch in Go, as the store
// would (one profile per customer: every identifier of a customer carries
// its number), and records the batch's answer.
func newMemStore(b *testing.B, tenant string, policy *identity.Policy, model *profile.Model, past []*event.Event, batch []kafka.Message) *memStore {
	b.Helper()
	states := map[string]profile.State{}
	pids := map[string]string{} // customer -> profile id
	var version int64
	fold := func(e *event.Event) string {
		if err := event.Prepare(e, event.DefaultLimits()); err != nil {
			b.Fatal(err)
		}
		item, ok := redisstore.NewItem("s/0", 0, e, policy, model)
		if !ok {
			b.Fatal("no usable identifier")
		}
		customer := e.Identifiers[0].Value[len("anon-"):]
		customer = customer[:strings.IndexByte(customer, '-')]
		pid, ok := pids[customer]
		if !ok {
			pid = identity.CandidateID(tenant, e.EventID)
			pids[customer] = pid
			states[pid] = profile.State{}
		}
		s := states[pid]
		for _, id := range item.Identifiers {
			s.Apply(profile.Update{Field: profile.IDField(id), Value: fmt.Sprint(e.EventTime.UnixMilli())})
		}
		for _, u := range item.Updates {
			s.Apply(u)
		}
		version++
		s[profile.FieldVersion] = fmt.Sprint(version)
		return pid
	}
	for _, e := range past {
		fold(e)
	}
	res := &redisstore.Result{Profiles: map[string]profile.State{}}
	for _, m := range batch {
		e, err := event.Decode(m.Value)
		if err != nil {
			b.Fatal(err)
		}
		pid := fold(e)
		res.Outcomes = append(res.Outcomes, redisstore.Outcome{Status: redisstore.StatusApplied, ProfileID: pid})
		res.Profiles[pid] = states[pid]
		if len(res.Records) < 20 { // a few links per batch
			res.Records = append(res.Records, identity.Record{Kind: identity.KindLinked, Tenant: tenant, ProfileID: pid,
				Identifier: e.Identifiers[len(e.Identifiers)-1].String(), Rule: "match", EventID: e.EventID, At: e.EventTime, Version: version})
		}
	}
	for pid, s := range res.Profiles {
		s[profile.FieldVersion] = fmt.Sprint(version)
		res.Profiles[pid] = s
	}
	return &memStore{res: res}
}

func (s *memStore) Apply(_ context.Context, _ string, items []redisstore.Item) (*redisstore.Result, error) {
	if len(items) != len(s.res.Outcomes) {
		return nil, fmt.Errorf("memStore: %d items, recorded %d", len(items), len(s.res.Outcomes))
	}
	res := *s.res
	return &res, nil
}

// memActivations enqueues transitions as activate.lua does, from the
// membership it remembers (none if forget).
type memActivations struct {
	forget bool
	known  map[string]string // profile id -> segments and stage, as remembered
	seq    int64
}

func (a *memActivations) Activate(_ context.Context, _ string, inputs []redisstore.ActivationInput, _ []redisstore.TimerSpec, now time.Time, _ time.Duration) ([]redisstore.Claimed, error) {
	if a.forget {
		clear(a.known)
	}
	var out []redisstore.Claimed
	emit := func(in redisstore.ActivationInput, tr redisstore.Transition) {
		tr.ProfileID, tr.Version, tr.At = in.ProfileID, in.Version, in.At.UnixMilli()
		p, _ := json.Marshal(tr)
		a.seq++
		out = append(out, redisstore.Claimed{ID: fmt.Sprintf("tr:%s:%d:%s:%s%s", in.ProfileID, in.Version, tr.Kind, tr.Segment, tr.To), Seq: a.seq, Due: in.At, Payload: p})
	}
	for _, in := range inputs {
		cur := strings.Join(in.Segments, ",") + "|" + in.Lifecycle
		old, seen := a.known[in.ProfileID]
		if seen && old == cur {
			continue
		}
		a.known[in.ProfileID] = cur
		oldSegs, oldStage, _ := strings.Cut(old, "|")
		was := strings.Split(oldSegs, ",")
		for _, s := range in.Segments {
			if !slices.Contains(was, s) {
				emit(in, redisstore.Transition{Kind: redisstore.KindSegmentEntered, Segment: s})
			}
		}
		for _, s := range was {
			if s != "" && !slices.Contains(in.Segments, s) {
				emit(in, redisstore.Transition{Kind: redisstore.KindSegmentExited, Segment: s})
			}
		}
		if in.Lifecycle != oldStage {
			emit(in, redisstore.Transition{Kind: redisstore.KindLifecycleChanged, From: oldStage, To: in.Lifecycle})
		}
	}
	return out, nil
}

func (a *memActivations) ClaimTimers(context.Context, string, time.Time, int, time.Duration) ([]redisstore.Claimed, error) {
	return nil, nil
}
func (a *memActivations) AckTimers(context.Context, string, []redisstore.Claimed) error { return nil }
func (a *memActivations) DueTenants(context.Context, time.Time) ([]string, error)       { return nil, nil }
func (a *memActivations) Profile(context.Context, string, string) (string, profile.State, error) {
	return "", nil, redisstore.ErrNotFound
}
