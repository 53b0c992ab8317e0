package pipeline_test

import (
	"cmp"
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
	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/telemetry"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// populationSegments: two that only grow (buyer, big_spender), one that
// events move both ways (detractor: the latest NPS answer), one that time
// alone leaves (active_now: seen in the last 4 seconds).
const populationSegments = `
segments:
  - name: buyer
    purpose: marketing
    when: {field: transactional.orders, gte: 1}
  - name: big_spender
    when: {field: transactional.lifetime_value_reporting, gt: 200}
  - name: detractor
    purpose: service
    when: {field: psychographic.nps.score, lte: 6}
  - name: active_now
    when: {field: behavioral.last_seen, within: 4s}
`

// customer is one seeded person and what the test expects of them.
type customer struct {
	email, anon string
	// waves of events, each sent in order keyed by the email.
	waves       [3][]*event.Event
	cartEvent   string // the cart activity's event id, if any
	ordered     bool   // an order after the cart
	whitepaper  string // the follow-up's source event id, if any
	demo        bool   // a demo request after the whitepaper
	noMarketing bool   // opted out of marketing
	noService   bool   // opted out of service
	alerts      []string
}

// seedPopulation makes n customers. Wave 1: a web visit under an anonymous
// id, for some a consent change and then a store purchase by email (a
// separate profile). Wave 2: the login linking the two (a merge for those
// with a purchase), cart activity, whitepapers, surveys. Wave 3: orders,
// demo requests, second surveys.
func seedPopulation(rng *rand.Rand, tenant, suffix string, n int, now time.Time) []*customer {
	var out []*customer
	seq := 0
	for i := range n {
		c := &customer{email: fmt.Sprintf("p%d.%s@example.com", i, suffix), anon: fmt.Sprintf("anon-%d-%s", i, suffix)}
		at := now
		ev := func(wave int, typ event.Type, name, props string, ids ...event.Identifier) *event.Event {
			seq++
			at = at.Add(time.Millisecond)
			e := &event.Event{EventID: fmt.Sprintf("ev-%d-%s", seq, suffix), Tenant: tenant, Channel: "web", Type: typ,
				Name: name, EventTime: at, Identifiers: ids}
			if props != "" {
				e.Properties = json.RawMessage(props)
			}
			c.waves[wave] = append(c.waves[wave], e)
			return e
		}
		email := event.Identifier{Type: "email", Value: c.email}
		anon := event.Identifier{Type: "anonymous_id", Value: c.anon}
		ev(0, event.TypePage, "Home", "", anon)
		if rng.IntN(5) == 0 {
			c.noMarketing = true
			e := ev(0, event.TypeIdentify, "", "", email)
			e.Traits = map[string]json.RawMessage{"consent": json.RawMessage(`{"marketing":false}`)}
		}
		if rng.IntN(5) == 0 {
			c.noService = true
			e := ev(0, event.TypeIdentify, "", "", email)
			e.Traits = map[string]json.RawMessage{"consent": json.RawMessage(`{"service":false}`)}
		}
		if rng.IntN(3) == 0 {
			e := ev(0, event.TypeTrack, "Order Completed", fmt.Sprintf(`{"order_id":"s%d","revenue":%d}`, i, 50+rng.IntN(300)), email)
			e.Channel = "store"
		}
		ev(1, event.TypeIdentify, "", "", anon, email)
		if rng.IntN(2) == 0 {
			c.cartEvent = ev(1, event.TypeTrack, "Product Added", fmt.Sprintf(`{"product_id":"sku-%d","price":%d}`, i, 20+rng.IntN(200)), email).EventID
			if rng.IntN(2) == 0 {
				c.ordered = true
				ev(2, event.TypeTrack, "Order Completed", fmt.Sprintf(`{"order_id":"w%d","revenue":%d}`, i, 20+rng.IntN(200)), email)
			}
		}
		if rng.IntN(3) == 0 {
			c.whitepaper = ev(1, event.TypeTrack, "Whitepaper Downloaded", "", email).EventID
			if rng.IntN(2) == 0 {
				c.demo = true
				ev(2, event.TypeTrack, "Demo Requested", "", email)
			}
		}
		for wave := 1; wave <= 2; wave++ {
			if rng.IntN(3) == 0 {
				nps := rng.IntN(11)
				e := ev(wave, event.TypeTrack, "Survey Responded", fmt.Sprintf(`{"nps":%d}`, nps), email)
				e.Channel = "survey"
				if nps <= 6 && !c.noService {
					c.alerts = append(c.alerts, e.EventID)
				}
			}
		}
		out = append(out, c)
	}
	return out
}

// Segments enter and exit correctly and every trigger fires exactly once on
// a seeded population of 150 customers, played through two resolvers of
// one consumer group, one of which is stopped and replaced by a third
// between the waves (a rolling restart).
func TestIntegrationTriggersExactlyOnceAcrossRestartsAndResolvers(t *testing.T) {
	cfg, suffix := testConfig(t)
	tenant := "e2e-" + suffix
	var err error
	if cfg.Segments, err = segmentSpecs(populationSegments); err != nil {
		t.Fatal(err)
	}
	cfg.Triggers.Cart.Window = trigger.Duration(6 * time.Second)
	cfg.Triggers.FollowUps = []trigger.FollowUpRule{{Name: "whitepaper", AfterEvent: "Whitepaper Downloaded",
		Delay: trigger.Duration(6 * time.Second), UnlessEvent: "Demo Requested", Purpose: "marketing"}}
	cfg.Resolver.Timers.Poll = 100 * time.Millisecond
	cfg.Resolver.Timers.Lease = 2 * time.Second
	cfg.Resolver.Timers.Claim = 20
	cfg.Resolver.BatchSize = 50

	resolver := func() (stop func()) {
		c := cfg
		c.Telemetry.Addr = freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		go func() { done <- pipeline.Run(ctx, c, []string{pipeline.StageResolver}, log, telemetry.NewRegistry()) }()
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("resolver: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("resolver did not stop within 30 s")
			}
		}
		t.Cleanup(stop)
		return stop
	}
	stopA := resolver()
	resolver()

	now := time.Now().UTC()
	people := seedPopulation(rand.New(rand.NewPCG(8, 1)), tenant, suffix, 150, now)
	w := kafkaio.NewWriter(cfg.Kafka)
	defer w.Close()
	timeline := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Kafka.Brokers, GroupID: "count-" + suffix,
		Topic: cfg.Kafka.Topics.Timeline, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer timeline.Close()
	resolved := map[string]bool{}
	sent := 0
	for wave := range 3 {
		var msgs []kafka.Message
		at := time.Now().UTC() // events happen as they are sent
		for _, c := range people {
			for _, e := range c.waves[wave] {
				at = at.Add(time.Millisecond)
				e.EventTime = at
				v, _ := json.Marshal(e)
				msgs = append(msgs, kafka.Message{Topic: cfg.Kafka.Topics.Interactions, Key: []byte(c.email), Value: v})
			}
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
		sent += len(msgs)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		for len(resolved) < sent {
			m, err := timeline.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("wave %d: %d of %d events resolved: %v", wave+1, len(resolved), sent, err)
			}
			var e event.Resolved
			json.Unmarshal(m.Value, &e)
			resolved[e.EventID] = true
		}
		cancel()
		if wave == 0 { // a rolling restart: A drains and stops, C joins
			stopA()
			resolver()
		}
	}
	// Everything due has fired 6 s after the last event (carts and
	// follow-ups 6 s, active_now 4 s); read until 5 s pass without a
	// trigger after that.
	quietAfter := time.Now().Add(6 * time.Second)
	triggers := readAllTriggers(t, cfg, tenant, quietAfter, 5*time.Second)

	// Exactly once: no trigger id twice.
	byID := map[string]*trigger.Trigger{}
	for _, tr := range triggers {
		if prev, ok := byID[tr.TriggerID]; ok {
			t.Errorf("trigger %s published twice: %s / %s", tr.TriggerID, prev.Reason, tr.Reason)
		}
		byID[tr.TriggerID] = tr
	}

	rs, err := pipeline.OpenRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	segs, err := segment.Compile(cfg.Segments)
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Now()
	liveOf := map[string]string{} // email -> live profile id
	live := map[string]*profile.Profile{}
	for _, c := range people {
		pid, st, err := rs.Resolve(context.Background(), tenant, "email:"+c.email)
		if err != nil {
			t.Fatalf("%s: %v", c.email, err)
		}
		if anonPID, _, err := rs.Resolve(context.Background(), tenant, "anonymous_id:"+c.anon); err != nil || anonPID != pid {
			t.Errorf("%s: anonymous id in %s, email in %s (%v)", c.email, anonPID, pid, err)
		}
		liveOf[c.email] = pid
		p := rs.Model().Render(tenant, pid, st, profile.Meta{AsOf: asOf})
		p.Segments, _ = segs.Evaluate(p, asOf)
		live[pid] = p
	}

	// Carts, follow-ups and alerts: exactly the expected ones.
	count := map[string]int{}
	for _, tr := range triggers {
		switch tr.Type {
		case trigger.TypeCartAbandoned:
			count["cart "+tr.Cart.EventID]++
		case trigger.TypeFollowUp:
			count["follow_up "+tr.FollowUp.SourceEventID]++
		case trigger.TypeNegativeFeedback:
			count["alert "+tr.Alert.EventID]++
		}
	}
	want := map[string]int{}
	var carts, followUps, alerts int
	for _, c := range people {
		if c.cartEvent != "" && !c.ordered && !c.noMarketing {
			want["cart "+c.cartEvent] = 1
			carts++
		}
		if c.whitepaper != "" && !c.demo && !c.noMarketing {
			want["follow_up "+c.whitepaper] = 1
			followUps++
		}
		for _, id := range c.alerts {
			want["alert "+id] = 1
			alerts++
		}
	}
	if !equalCounts(count, want) {
		for k, n := range want {
			if count[k] != n {
				t.Errorf("%s: %d published, want %d", k, count[k], n)
			}
		}
		for k, n := range count {
			if want[k] == 0 {
				t.Errorf("%s: %d published, want none", k, n)
			}
		}
	}

	// Segments: per profile id and segment, entries and exits alternate,
	// starting with an entry, in version order, and end where the profile
	// is now: in its segments if live, out of all if merged away. Lifecycle
	// changes chain from "" to the stage now.
	seqs := map[string][]*trigger.Trigger{} // profile|segment -> its triggers
	stages := map[string][]*trigger.Trigger{}
	entered := map[string]int{}
	for _, tr := range triggers {
		switch tr.Type {
		case trigger.TypeSegmentEntered, trigger.TypeSegmentExited:
			k := tr.ProfileID + "|" + tr.Segment.Name
			seqs[k] = append(seqs[k], tr)
			if tr.Type == trigger.TypeSegmentEntered {
				entered[tr.Segment.Name]++
			}
		case trigger.TypeLifecycleChanged:
			stages[tr.ProfileID] = append(stages[tr.ProfileID], tr)
		}
	}
	order := func(a, b *trigger.Trigger) int {
		return cmp.Or(cmp.Compare(a.ProfileVersion, b.ProfileVersion), a.At.Compare(b.At))
	}
	// A segment's triggers serve its purpose: a customer who opted out of
	// it gets none (consent is set before any segment is entered).
	optedOut := func(pid, name string) bool {
		g, _ := segs.Get(name)
		_, st, err := rs.Profile(context.Background(), tenant, pid) // a merged-away id's survivor
		if err != nil || g.Purpose() == "" {
			return false
		}
		p := rs.Model().Render(tenant, pid, st, profile.Meta{AsOf: asOf})
		return !trigger.Allowed(g.Purpose(), p.Psychographic.Consent)
	}
	mergeExits := 0
	for k, seq := range seqs {
		slices.SortFunc(seq, order)
		pid, name, _ := strings.Cut(k, "|")
		if optedOut(pid, name) {
			t.Errorf("%s: triggers for a customer who opted out of the segment's purpose:\n%s", k, describeTriggers(seq))
			continue
		}
		in := false
		for _, tr := range seq {
			if (tr.Type == trigger.TypeSegmentEntered) == in {
				t.Errorf("%s: %s twice in a row:\n%s", k, tr.Type, describeTriggers(seq))
				break
			}
			in = !in
		}
		p := live[pid]
		if wantIn := p != nil && slices.Contains(p.Segments, name); in != wantIn {
			t.Errorf("%s: in the segment after its triggers: %v, now: %v (live: %v)\n%s", k, in, wantIn, p != nil, describeTriggers(seq))
		}
		if last := seq[len(seq)-1]; last.Segment.MergedInto != "" {
			mergeExits++
			if p != nil {
				t.Errorf("%s: a live profile left as merged:\n%s", k, describeTriggers(seq))
			}
		}
	}
	for pid, p := range live {
		for _, name := range p.Segments {
			if len(seqs[pid+"|"+name]) == 0 && !optedOut(pid, name) {
				t.Errorf("%s is in %s but never entered it", pid, name)
			}
		}
		seq := stages[pid]
		slices.SortFunc(seq, order)
		from := ""
		for _, tr := range seq {
			if tr.Lifecycle.From != from {
				t.Errorf("%s: lifecycle %s -> %s after %q", pid, tr.Lifecycle.From, tr.Lifecycle.To, from)
			}
			from = tr.Lifecycle.To
		}
		if from != p.Derived.Lifecycle {
			t.Errorf("%s: lifecycle %q after its triggers, %q now", pid, from, p.Derived.Lifecycle)
		}
	}
	var buyers, merged int
	for _, p := range live {
		if p.Transactional.Orders > 0 {
			buyers++
		}
		merged += len(p.MergedFrom)
	}
	if buyers == 0 || merged == 0 || mergeExits == 0 || entered["active_now"] == 0 || entered["detractor"] == 0 {
		t.Errorf("population too tame: %d buyers, %d merges, %d exits by merge, entries %v", buyers, merged, mergeExits, entered)
	}
	t.Logf("%d customers, %d events, %d merges: %d triggers (each once), of which %d abandoned carts, %d follow-ups, %d alerts; entries per segment %v, %d exits by merge",
		len(people), sent, merged, len(triggers), carts, followUps, alerts, entered, mergeExits)
}

func segmentSpecs(doc string) ([]segment.Spec, error) {
	var specs struct {
		Segments []segment.Spec `yaml:"segments"`
	}
	if err := yaml.Unmarshal([]byte(doc), &specs); err != nil {
		return nil, err
	}
	_, err := segment.Compile(specs.Segments)
	return specs.Segments, err
}

// readAllTriggers reads the tenant's triggers until none came for quiet
// after the time after.
func readAllTriggers(t *testing.T, cfg pipeline.Config, tenant string, after time.Time, quiet time.Duration) []*trigger.Trigger {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Kafka.Brokers, GroupID: "triggers-" + tenant,
		Topic: cfg.Kafka.Topics.Triggers, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []*trigger.Trigger
	last := time.Now()
	for {
		deadline := last.Add(quiet)
		if after.After(last) {
			deadline = after.Add(quiet)
		}
		if time.Now().After(deadline) {
			return out
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			continue
		}
		var tr trigger.Trigger
		if err := json.Unmarshal(m.Value, &tr); err != nil {
			t.Fatalf("trigger %s: %v", m.Value, err)
		}
		if tr.Tenant == tenant {
			out = append(out, &tr)
			last = time.Now()
		}
	}
}

func describeTriggers(ts []*trigger.Trigger) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "  v%d %s %s %s\n", t.ProfileVersion, t.At.Format("15:04:05.000"), t.Type, t.Reason)
	}
	return b.String()
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}
