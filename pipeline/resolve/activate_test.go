package resolve_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pipeline/resolve"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/kafkaio/kafkaiotest"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/redisstore/redisstoretest"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// timerDB is the Redis database of this package's tests. Timer loops
// claim the due timers of every tenant in their database (as resolvers
// sharing a Redis should), so tests that run them keep to a database of
// their own: pipeline's end-to-end tests use another.
const timerDB = 1

// activationSegments: everyone seen, buyers (a marketing segment), and
// buyers of the last 3 seconds (a segment time alone leaves).
const activationSegments = `
segments:
  - name: seen
    when: {field: behavioral.events, gte: 1}
  - name: buyer
    purpose: marketing
    when: {field: transactional.orders, gte: 1}
  - name: recent_buyer
    description: ordered in the last 3 seconds
    when: {field: transactional.last_order_at, within: 3s}
`

// activationRules: carts abandoned after 2 s, a whitepaper follow-up after
// 2 s unless a demo is requested, alerts, lifecycle changes.
func activationRules() trigger.Config {
	rules := trigger.Default()
	rules.Cart.Window = trigger.Duration(2 * time.Second)
	rules.FollowUps = []trigger.FollowUpRule{{Name: "whitepaper", AfterEvent: "Whitepaper Downloaded",
		Delay: trigger.Duration(2 * time.Second), UnlessEvent: "Demo Requested", Purpose: "marketing"}}
	return rules
}

func fastTimers() resolve.TimerConfig {
	return resolve.TimerConfig{Poll: 100 * time.Millisecond, Lease: time.Second, Claim: 50}
}

type activationEnv struct {
	kcfg   kafkaio.Config
	store  *redisstore.Store
	tenant string
	suffix string
	segs   *segment.Set
	offset *int64 // the next offset apply gives an event
}

func newActivationEnv(t testing.TB) activationEnv {
	t.Helper()
	cfg := redisstore.Default()
	cfg.DB = timerDB
	store, tenant := redisstoretest.NewWith(t, cfg, nil)
	segs, err := segment.Parse([]byte(activationSegments))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	return activationEnv{kcfg: kafkaiotest.Config(t, 4), store: store, tenant: tenant, suffix: hex.EncodeToString(b), segs: segs, offset: new(int64)}
}

func (env activationEnv) activator(t testing.TB, timers resolve.TimerConfig) *resolve.Activator {
	t.Helper()
	a, err := resolve.NewActivator(env.segs, activationRules(), env.store.Model(), env.store, env.kcfg.Topics.Triggers, timers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// track builds an event of customer who (an email, or "anon:<id>").
func (env activationEnv) track(who, name, props string, at time.Time) *event.Event {
	id := event.Identifier{Type: "email", Value: who + "." + env.suffix + "@example.com"}
	if anon, ok := strings.CutPrefix(who, "anon:"); ok {
		id = event.Identifier{Type: "anonymous_id", Value: anon + "-" + env.suffix}
	}
	b := make([]byte, 8)
	rand.Read(b)
	e := &event.Event{EventID: hex.EncodeToString(b), Tenant: env.tenant, Channel: "web", Type: event.TypeTrack, Name: name,
		EventTime: at, Identifiers: []event.Identifier{id}}
	if props != "" {
		e.Properties = json.RawMessage(props)
	}
	return e
}

func (env activationEnv) publish(t *testing.T, events ...*event.Event) {
	t.Helper()
	w := kafkaio.NewWriter(env.kcfg)
	defer w.Close()
	msgs := make([]kafka.Message, len(events))
	for i, e := range events {
		v, _ := json.Marshal(e)
		msgs[i] = kafka.Message{Topic: env.kcfg.Topics.Interactions, Key: []byte(e.Identifiers[0].Value), Value: v}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// profileOf returns the live profile id of a customer.
func (env activationEnv) profileOf(t *testing.T, who string) string {
	t.Helper()
	ref := "email:" + who + "." + env.suffix + "@example.com"
	if anon, ok := strings.CutPrefix(who, "anon:"); ok {
		ref = "anonymous_id:" + anon + "-" + env.suffix
	}
	pid, _, err := env.store.Resolve(context.Background(), env.tenant, ref)
	if err != nil {
		t.Fatalf("resolve %s: %v", ref, err)
	}
	return pid
}

// apply resolves and folds events in Redis as a resolver would, and
// returns what changed, its profiles rendered now.
func (env activationEnv) apply(t testing.TB, events []*event.Event) resolve.Change {
	t.Helper()
	items := make([]redisstore.Item, len(events))
	for i, e := range events {
		e.ReceivedAt = time.Now().UTC()
		it, ok := redisstore.NewItem("test/0", *env.offset, e, env.store.Policy(), env.store.Model())
		*env.offset++
		if !ok {
			t.Fatalf("event %d has no usable identifier", i)
		}
		items[i] = it
	}
	res, err := env.store.Apply(context.Background(), env.tenant, items)
	if err != nil {
		t.Fatal(err)
	}
	ann := resolve.Announcer{Model: env.store.Model()}
	ch := resolve.Change{Tenant: env.tenant, Profiles: ann.Render(env.tenant, res.Profiles), Records: res.Records, Events: events}
	for _, o := range res.Outcomes {
		ch.EventProfiles = append(ch.EventProfiles, o.ProfileID)
	}
	return ch
}

// readTriggers reads cx.triggers until it has n messages, then for quiet more,
// and fails if any more come.
func readTriggers(t *testing.T, kcfg kafkaio.Config, group string, n int, within, quiet time.Duration) []*trigger.Trigger {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kcfg.Brokers, GroupID: group, Topic: kcfg.Topics.Triggers,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []*trigger.Trigger
	read := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return err
		}
		var tr trigger.Trigger
		if err := json.Unmarshal(m.Value, &tr); err != nil {
			t.Fatalf("trigger %s: %v", m.Value, err)
		}
		if string(m.Key) != tr.ProfileID {
			t.Errorf("trigger %s keyed %s", tr.TriggerID, m.Key)
		}
		out = append(out, &tr)
		return nil
	}
	deadline := time.Now().Add(within)
	for len(out) < n {
		if err := read(time.Until(deadline)); err != nil {
			t.Fatalf("cx.triggers: %d of %d triggers after %s: %v\n%s", len(out), n, within, err, describe(out))
		}
	}
	end := time.Now().Add(quiet)
	for time.Now().Before(end) {
		if read(time.Until(end)) == nil {
			t.Errorf("more than %d triggers: %s", n, describe(out[n:]))
		}
	}
	return out
}

func describe(ts []*trigger.Trigger) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", t.TriggerID, t.Type, t.ProfileID, t.Reason)
	}
	return b.String()
}

// The resolver publishes each trigger of a batch once: segments entered
// (and left when time passes, or when a profile is merged away), lifecycle
// changes, an abandoned cart (not a cart an order closed, not one of a
// customer who opted out of marketing), a follow-up (not one a demo
// request cancelled), negative feedback (not from a customer who opted out
// of service).
func TestIntegrationResolverPublishesTriggers(t *testing.T) {
	env := newActivationEnv(t)
	ctx := context.Background()
	cfg := resolve.Default()
	cfg.Group += "." + env.suffix
	cfg.Timers = fastTimers()
	r, err := resolve.New(cfg, env.kcfg, identity.DefaultRules(), env.store.Model(), env.store,
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.WithActivation(env.activator(t, cfg.Timers))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	now := time.Now().UTC()
	optOut := func(who, purpose string) *event.Event {
		e := env.track(who, "", "", now.Add(-time.Second))
		e.Type, e.Name = event.TypeIdentify, ""
		e.Traits = map[string]json.RawMessage{"consent": json.RawMessage(`{"` + purpose + `":false}`)}
		return e
	}
	env.publish(t,
		env.track("cart", "Product Added", `{"product_id":"p1","price":30}`, now),
		env.track("buyer", "Product Added", `{"product_id":"p2","price":150}`, now),
		env.track("buyer", "Order Completed", `{"order_id":"o1","revenue":150}`, now.Add(time.Millisecond)),
		env.track("wp", "Whitepaper Downloaded", "", now),
		env.track("demo", "Whitepaper Downloaded", "", now),
		env.track("demo", "Demo Requested", "", now.Add(time.Millisecond)),
		env.track("sad", "Survey Responded", `{"nps":2,"feedback":"slow delivery"}`, now),
		optOut("quiet", "service"),
		env.track("quiet", "Survey Responded", `{"nps":1}`, now),
		optOut("nomail", "marketing"),
		env.track("nomail", "Product Added", `{"product_id":"p3"}`, now),
		env.track("anon:visitor", "Page Viewed", "", now),
		env.track("member", "Page Viewed", "", now),
	)
	// The merge comes after the first batch's triggers are out: the
	// visitor logs in as member.
	readTriggers(t, env.kcfg, "first."+env.suffix, 9+9+1+1+1, 20*time.Second, 0)
	login := env.track("member", "Signed In", "", now.Add(time.Second))
	login.Identifiers = append(login.Identifiers, event.Identifier{Type: "anonymous_id", Value: "visitor-" + env.suffix})
	env.publish(t, login)

	// 9 profiles enter "seen" and change stage to new; the buyer enters
	// buyer and recent_buyer, and leaves recent_buyer 3 s after the order;
	// the merged-away profile leaves "seen"; one cart, one follow-up, one
	// alert.
	all := readTriggers(t, env.kcfg, "all."+env.suffix, 9+9+1+2+1+1+1+1, 30*time.Second, 3*time.Second)
	ids := map[string]bool{}
	type key struct{ typ, who, detail string }
	got := map[key]int{}
	live := map[string]string{}
	for _, who := range []string{"cart", "buyer", "wp", "demo", "sad", "quiet", "nomail", "member"} {
		live[env.profileOf(t, who)] = who
	}
	for _, tr := range all {
		if ids[tr.TriggerID] {
			t.Errorf("trigger id %s published twice", tr.TriggerID)
		}
		ids[tr.TriggerID] = true
		who := live[tr.ProfileID]
		if who == "" {
			who = "merged-away"
		}
		var detail string
		switch tr.Type {
		case trigger.TypeSegmentEntered, trigger.TypeSegmentExited:
			detail = tr.Segment.Name
			if tr.Segment.MergedInto != "" {
				detail += " into " + live[tr.Segment.MergedInto]
			}
		case trigger.TypeLifecycleChanged:
			detail = tr.Lifecycle.From + "->" + tr.Lifecycle.To
		case trigger.TypeCartAbandoned:
			detail = tr.Cart.EventName
			if !tr.At.Equal(tr.Cart.CartAt.Add(2 * time.Second)) {
				t.Errorf("cart trigger at %v, want its cart's time + 2s (%v)", tr.At, tr.Cart.CartAt)
			}
		case trigger.TypeFollowUp:
			detail = tr.FollowUp.Rule
		case trigger.TypeNegativeFeedback:
			detail = strings.Join(tr.Alert.Signals, ",")
		}
		got[key{string(tr.Type), who, detail}]++
	}
	want := map[key]int{
		{"segment.entered", "buyer", "buyer"}:                 1,
		{"segment.entered", "buyer", "recent_buyer"}:          1,
		{"segment.exited", "buyer", "recent_buyer"}:           1,
		{"cart.abandoned", "cart", "Product Added"}:           1,
		{"follow_up", "wp", "whitepaper"}:                     1,
		{"alert.negative_feedback", "sad", "nps"}:             1,
		{"segment.entered", "merged-away", "seen"}:            1,
		{"lifecycle.changed", "merged-away", "->new"}:         1,
		{"segment.exited", "merged-away", "seen into member"}: 1,
	}
	// The visitor's and the member's profiles each entered "seen" and
	// became new; the login merged one into the other (which one survives
	// is the identity rules' choice), and the merged-away one left "seen".
	for who := range values(live) {
		want[key{"segment.entered", who, "seen"}] = 1
		want[key{"lifecycle.changed", who, "->new"}] = 1
	}
	if !equalCounts(got, want) {
		t.Errorf("triggers:\n%s\ngot  %v\nwant %v", describe(all), got, want)
	}
	// The profile lists its segments; the API and cx.profiles show them.
	_, st, err := env.store.Profile(ctx, env.tenant, env.profileOf(t, "buyer"))
	if err != nil {
		t.Fatal(err)
	}
	p := env.store.Model().Render(env.tenant, env.profileOf(t, "buyer"), st, profile.Meta{AsOf: time.Now()})
	if m, _ := env.segs.Evaluate(p, p.AsOf); !slices.Equal(m, []string{"buyer", "seen"}) {
		t.Errorf("buyer's segments now %v, want [buyer seen]", m)
	}
}

func values(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

func equalCounts[K comparable](a, b map[K]int) bool {
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

// A resolver that dies after Activate enqueued a batch's transitions and
// before it published them (kill -9 mid-batch) loses nothing: once the
// lease runs out, another resolver's timer loop publishes each of them
// once, with the ids the dead one would have used.
func TestIntegrationTransitionsOfACrashedResolverArePublishedOnce(t *testing.T) {
	env := newActivationEnv(t)
	ctx := context.Background()
	dead := env.activator(t, fastTimers())
	var events []*event.Event
	for i := range 5 {
		events = append(events, env.track(fmt.Sprint("crash", i), "Page Viewed", "", time.Now().UTC()))
	}
	crashed, err := dead.Activate(ctx, env.apply(t, events))
	if err != nil {
		t.Fatal(err)
	}
	// 5 profiles enter "seen" and change stage to new.
	if len(crashed.Messages) != 10 || len(crashed.Done) != 10 {
		t.Fatalf("activation built %d messages for %d transitions, want 10", len(crashed.Messages), len(crashed.Done))
	}
	// Never published, never acked: the resolver died here.

	w := kafkaio.NewWriter(env.kcfg)
	defer w.Close()
	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	for range 2 { // two survivors race for the redelivery
		go env.activator(t, fastTimers()).RunTimers(loopCtx, w, env.kcfg.Topics.DeadLetter, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	got := readTriggers(t, env.kcfg, "redelivered."+env.suffix, 10, 15*time.Second, 2*time.Second)
	var want, have []string
	for _, m := range crashed.Messages {
		var tr trigger.Trigger
		json.Unmarshal(m.Value, &tr)
		want = append(want, tr.TriggerID+" "+tr.Reason)
	}
	for _, tr := range got {
		have = append(have, tr.TriggerID+" "+tr.Reason)
	}
	sort.Strings(want)
	sort.Strings(have)
	if !slices.Equal(have, want) {
		t.Errorf("redelivered\n%v\nwant what the crashed resolver built\n%v", have, want)
	}
}

// Two resolvers' timer loops share the due timers: 200 abandoned carts are
// published once each, whichever loop claims them.
func TestIntegrationTwoTimerLoopsFireEachCartOnce(t *testing.T) {
	env := newActivationEnv(t)
	ctx := context.Background()
	timers := fastTimers()
	timers.Claim = 16 // many claims per loop, so that the loops interleave
	a := env.activator(t, timers)
	past := time.Now().UTC().Add(-2 * time.Second) // the carts are due now
	var events []*event.Event
	for i := range 200 {
		events = append(events, env.track(fmt.Sprintf("c%d", i), "Checkout Started", `{"value":20}`, past))
	}
	ch := env.apply(t, events)
	act, err := a.Activate(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	pids := slices.Compact(slices.Sorted(slices.Values(ch.EventProfiles)))
	if len(pids) != 200 {
		t.Fatalf("%d profiles, want 200", len(pids))
	}
	if err := a.Ack(ctx, env.tenant, act.Done); err != nil {
		t.Fatal(err)
	}
	w := kafkaio.NewWriter(env.kcfg)
	defer w.Close()
	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	for range 2 {
		go env.activator(t, timers).RunTimers(loopCtx, w, env.kcfg.Topics.DeadLetter, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	got := readTriggers(t, env.kcfg, "carts."+env.suffix, 200, 30*time.Second, 2*time.Second)
	seen := map[string]bool{}
	for _, tr := range got {
		if tr.Type != trigger.TypeCartAbandoned || seen[tr.ProfileID] {
			t.Errorf("unexpected %s for %s (seen before: %v)", tr.Type, tr.ProfileID, seen[tr.ProfileID])
		}
		seen[tr.ProfileID] = true
	}
	for _, pid := range pids {
		if !seen[pid] {
			t.Errorf("no cart.abandoned for %s", pid)
		}
	}
}

// BenchmarkActivate measures what activation adds to a resolver batch of
// 1,000 events from 500 customers (carts, orders, surveys, page views)
// against the real Redis: evaluating the segments of the touched profiles,
// the one Activate round trip (membership, transitions, timers), building
// the triggers, and the ack. Reported per event. "new": every batch's
// customers are new, so each enters segments and a lifecycle stage (the
// worst case: ~3 triggers per profile); "returning": the same customers
// every batch, so memberships rarely change (the steady state).
func BenchmarkActivate(b *testing.B) {
	b.Run("new", func(b *testing.B) { benchmarkActivate(b, true) })
	b.Run("returning", func(b *testing.B) { benchmarkActivate(b, false) })
}

func benchmarkActivate(b *testing.B, fresh bool) {
	env := newActivationEnv(b)
	a := env.activator(b, resolve.DefaultTimers())
	ctx := context.Background()
	names := []struct{ name, props string }{{"Product Added", `{"product_id":"p","price":20}`},
		{"Order Completed", `{"order_id":"o","revenue":120}`}, {"Survey Responded", `{"nps":4}`}, {"Page Viewed", ""}}
	batch := 0
	for b.Loop() {
		b.StopTimer()
		var events []*event.Event
		for i := range 1000 {
			n := names[i%len(names)]
			events = append(events, env.track(fmt.Sprintf("b%d-c%d", batch, i%500), n.name, n.props, time.Now().UTC()))
		}
		if fresh {
			batch++
		}
		ch := env.apply(b, events)
		b.StartTimer()
		act, err := a.Activate(ctx, ch)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Ack(ctx, env.tenant, act.Done); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*1000), "µs/event")
}
