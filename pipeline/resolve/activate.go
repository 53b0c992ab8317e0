package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/segment"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// ActivationStore is the part of the Redis store that activation needs
// (redisstore.Store has it).
type ActivationStore interface {
	Activate(ctx context.Context, tenant string, inputs []redisstore.ActivationInput, timers []redisstore.TimerSpec, now time.Time, lease time.Duration) ([]redisstore.Claimed, error)
	ClaimTimers(ctx context.Context, tenant string, now time.Time, limit int, lease time.Duration) ([]redisstore.Claimed, error)
	AckTimers(ctx context.Context, tenant string, done []redisstore.Claimed) error
	DueTenants(ctx context.Context, now time.Time) ([]string, error)
	// Profile returns a profile's state by id, following merges to the
	// live id; redisstore.ErrNotFound if there is none.
	Profile(ctx context.Context, tenant, id string) (string, profile.State, error)
}

// Activator turns profile changes, events and due timers into cx.triggers
// messages (pkg/trigger). After each batch the resolver evaluates the
// segments of every profile the batch touched and records the membership
// in Redis (ActivationStore.Activate), which enqueues each transition once;
// the same call schedules the batch's cart and follow-up timers. Alerts on
// negative feedback go out with the batch. The timer loop (RunTimers)
// fires carts and follow-ups when due, re-evaluates profiles when a time
// condition flips, and redelivers transitions whose publisher died.
//
// Every trigger passes the consent rule (trigger.Config.Allows) on the
// profile as it is when the trigger is published.
type Activator struct {
	segments *segment.Set
	rules    trigger.Config
	model    *profile.Model
	store    ActivationStore
	topic    string
	cfg      TimerConfig
	m        *activationMetrics
	now      func() time.Time
}

// NewActivator returns an activator publishing on topic (cx.triggers).
// segments may be nil (no segment is evaluated). Unless the rules name
// their own, orders (closing carts) are the model's order events.
func NewActivator(segments *segment.Set, rules trigger.Config, model *profile.Model, store ActivationStore, topic string, cfg TimerConfig, reg prometheus.Registerer) (*Activator, error) {
	rules = rules.WithOrderEvents(model.Config().Orders.Events)
	if err := errors.Join(rules.Validate(), cfg.Validate()); err != nil {
		return nil, err
	}
	if segments == nil {
		segments, _ = segment.Compile(nil)
	}
	if topic == "" {
		return nil, errors.New("activation: no triggers topic")
	}
	return &Activator{segments: segments, rules: rules, model: model, store: store, topic: topic, cfg: cfg,
		m: newActivationMetrics(reg), now: time.Now}, nil
}

// Segments returns the compiled segments.
func (a *Activator) Segments() *segment.Set { return a.segments }

// Timer ids and payload kinds of the timers the activator schedules
// besides redisstore's transitions and "eval:<pid>".
const (
	timerCart     = "cart"      // "cart:<pid>": the profile's latest open cart
	timerFollowUp = "follow_up" // "fu:<rule>:<pid>": a rule's pending follow-up
)

// timerPayload is the payload of every timer: a redisstore.Transition, or
// a cart or follow-up with Kind and ProfileID set.
type timerPayload struct {
	redisstore.Transition
	Cart     *trigger.Cart     `json:"cart,omitempty"`
	FollowUp *trigger.FollowUp `json:"follow_up,omitempty"`
}

// Evaluate sets p.Segments to the segments p is in as of p.AsOf and
// returns its activation input: its membership, lifecycle stage (only if
// the lifecycle rule is on) and when time alone may change either.
func (a *Activator) Evaluate(p *profile.Profile) redisstore.ActivationInput {
	members, next := a.segments.Evaluate(p, p.AsOf)
	if members == nil {
		members = []string{}
	}
	p.Segments = members
	in := redisstore.ActivationInput{ProfileID: p.ProfileID, Version: p.Version, Segments: members, At: p.AsOf}
	if a.rules.Lifecycle.Enabled {
		in.Lifecycle = p.Derived.Lifecycle
		if lc := a.model.LifecycleChangeAfter(p); !lc.IsZero() && (next.IsZero() || lc.Before(next)) {
			next = lc
		}
	}
	in.Next = next
	return in
}

// Change is what one call changed for a tenant: the profiles it touched,
// rendered (segments not yet evaluated), the identity records it made, and
// the events it applied with the profile each was resolved to.
type Change struct {
	Tenant   string
	Profiles []*profile.Profile
	Records  []identity.Record
	Events   []*event.Event
	// EventProfiles[i] is the profile Events[i] was resolved to when it
	// was applied (a later merge in the call may have forwarded it).
	EventProfiles []string
}

// Activation is the outcome of Activate: the cx.triggers messages to
// publish, then the occurrences to ack (Ack) once they are published.
type Activation struct {
	Messages []kafka.Message
	Done     []redisstore.Claimed
}

// Activate evaluates the segments of ch.Profiles (setting their
// Segments), records their membership, forgets the membership of the ids
// the call merged away (they leave their segments), schedules and cancels
// the events' cart and follow-up timers, and builds the triggers: the
// transitions Activate enqueued and alerts on negative feedback. One Redis
// round trip. The caller publishes the messages, then calls Ack.
//
// Replayed events (a batch redelivered after a crash) are passed again:
// timers are scheduled idempotently and alerts have stable ids, so a
// replay republishes at worst what a consumer drops as seen.
func (a *Activator) Activate(ctx context.Context, ch Change) (Activation, error) {
	now := a.now()
	byID := make(map[string]*profile.Profile, len(ch.Profiles))
	inputs := make([]redisstore.ActivationInput, 0, len(ch.Profiles))
	var version int64
	live := make(map[string]bool, len(ch.Profiles))
	for _, p := range ch.Profiles {
		byID[p.ProfileID] = p
		live[p.ProfileID] = true
		inputs = append(inputs, a.Evaluate(p))
		version = max(version, p.Version)
	}
	into := map[string]string{}
	for _, m := range mergedAway(ch.Records, live) {
		into[m.alias] = m.into
		inputs = append(inputs, redisstore.ActivationInput{ProfileID: m.alias, Version: version, MergedInto: m.into, At: now})
	}
	var out Activation
	var timers []redisstore.TimerSpec
	for i, e := range ch.Events {
		pid := ch.EventProfiles[i]
		if to, ok := into[pid]; ok {
			pid = to
		}
		var err error
		if timers, err = a.eventTimers(timers, pid, e, now); err != nil {
			return out, err
		}
		if p := byID[pid]; p != nil {
			if msg, ok, err := a.alert(e, p, now); err != nil {
				return out, err
			} else if ok {
				out.Messages = append(out.Messages, msg)
			}
		}
	}
	claimed, err := a.store.Activate(ctx, ch.Tenant, inputs, timers, now, a.cfg.Lease)
	if err != nil {
		return out, err
	}
	for _, c := range claimed {
		msg, ok, err := a.transition(c, func(pid string) *profile.Profile {
			if to, merged := into[pid]; merged {
				pid = to
			}
			return byID[pid]
		})
		if err != nil {
			return out, err
		}
		if ok {
			out.Messages = append(out.Messages, msg)
		}
	}
	out.Done = claimed
	return out, nil
}

// Ack ends the leases of published occurrences.
func (a *Activator) Ack(ctx context.Context, tenant string, done []redisstore.Claimed) error {
	return a.store.AckTimers(ctx, tenant, done)
}

// eventTimers appends the timers event e schedules or cancels for profile
// pid: an order cancels the open cart, a follow-up's cancelling event its
// follow-up, cart activity opens (or moves) the cart, and a follow-up
// rule's event schedules a follow-up unless one is pending. Cancels come
// first, so an event that both cancels and schedules leaves the new timer.
// Timers already too late to fire (trigger.Config.MaxLateness) are not
// scheduled.
func (a *Activator) eventTimers(timers []redisstore.TimerSpec, pid string, e *event.Event, now time.Time) ([]redisstore.TimerSpec, error) {
	cart := a.rules.Cart
	if e.Type != event.TypeTrack {
		return timers, nil
	}
	if due, ok := cart.Closes(e); ok {
		timers = append(timers, redisstore.TimerSpec{ID: "cart:" + pid, Due: due, Mode: redisstore.ModeCancel})
	}
	for _, r := range a.rules.FollowUps {
		if due, ok := r.Cancels(e); ok {
			timers = append(timers, redisstore.TimerSpec{ID: followUpID(r.Name, pid), Due: due, Mode: redisstore.ModeCancel})
		}
	}
	if trigger.CartActivity(cart, e) {
		c := trigger.CartOf(cart, e)
		if !a.rules.TooLate(c.Due(), now) {
			p, err := json.Marshal(timerPayload{Transition: redisstore.Transition{Kind: timerCart, ProfileID: pid}, Cart: &c})
			if err != nil {
				return timers, fmt.Errorf("encode the cart of event %s: %w", e.EventID, err)
			}
			timers = append(timers, redisstore.TimerSpec{ID: "cart:" + pid, Due: c.Due(), Payload: p, Mode: redisstore.ModeMax})
		}
	}
	for _, f := range trigger.FollowUpsFor(a.rules.FollowUps, e) {
		if !a.rules.TooLate(f.Due(), now) {
			p, err := json.Marshal(timerPayload{Transition: redisstore.Transition{Kind: timerFollowUp, ProfileID: pid}, FollowUp: &f})
			if err != nil {
				return timers, fmt.Errorf("encode the follow-up of event %s: %w", e.EventID, err)
			}
			timers = append(timers, redisstore.TimerSpec{ID: followUpID(f.Rule, pid), Due: f.Due(), Payload: p, Mode: redisstore.ModeNX})
		}
	}
	return timers, nil
}

func followUpID(rule, pid string) string { return "fu:" + rule + ":" + pid }

// alert returns the alert.negative_feedback message of e about p, if e is
// negative feedback, recent enough and p's consent allows it.
func (a *Activator) alert(e *event.Event, p *profile.Profile, now time.Time) (kafka.Message, bool, error) {
	nf := a.rules.NegativeFeedback
	if !nf.Enabled {
		return kafka.Message{}, false, nil
	}
	al, ok := trigger.NegativeFeedback(nf, e, trigger.ReadFeedback(a.model.Config().Feedback, e))
	if !ok {
		return kafka.Message{}, false, nil
	}
	if a.rules.TooLate(al.EventAt, now) {
		a.m.suppressed.WithLabelValues(string(trigger.TypeNegativeFeedback), "late").Inc()
		return kafka.Message{}, false, nil
	}
	return a.publishable(al.Trigger(nf, p), p)
}

// transition builds the trigger of an enqueued transition, with the
// profile that profileOf returns for its profile id (nil: none, the
// transition is dropped).
func (a *Activator) transition(c redisstore.Claimed, profileOf func(pid string) *profile.Profile) (kafka.Message, bool, error) {
	var tr redisstore.Transition
	if err := json.Unmarshal(c.Payload, &tr); err != nil {
		return kafka.Message{}, false, fmt.Errorf("decode transition %s: %w", c.ID, err)
	}
	return a.transitionOf(c.ID, tr, profileOf(tr.ProfileID))
}

// transitionOf builds the trigger of transition tr (timer id) about p, the
// profile its id names now (nil: none, the transition is dropped).
func (a *Activator) transitionOf(id string, tr redisstore.Transition, p *profile.Profile) (kafka.Message, bool, error) {
	if p == nil {
		a.m.suppressed.WithLabelValues(tr.Kind, "gone").Inc()
		return kafka.Message{}, false, nil
	}
	// The trigger is about the profile and version that changed, with the
	// contact details of the profile now (a merged-away id's survivor).
	q := *p
	q.ProfileID, q.Version = tr.ProfileID, tr.Version
	at := time.UnixMilli(tr.At)
	var t *trigger.Trigger
	switch tr.Kind {
	case redisstore.KindSegmentEntered, redisstore.KindSegmentExited:
		sc := trigger.SegmentChange{Name: tr.Segment, MergedInto: tr.MergedInto}
		var purpose string
		if g, ok := a.segments.Get(tr.Segment); ok {
			sc.Description, purpose = g.Description(), g.Purpose()
		}
		t = sc.Trigger(&q, tr.Kind == redisstore.KindSegmentEntered, purpose, at, tr.Rev)
	case redisstore.KindLifecycleChanged:
		var ok bool
		if t, ok = (trigger.LifecycleChange{From: tr.From, To: tr.To}).Trigger(a.rules.Lifecycle, &q, at, tr.Rev); !ok {
			return kafka.Message{}, false, nil
		}
	default:
		return kafka.Message{}, false, fmt.Errorf("transition %s: unknown kind %q", id, tr.Kind)
	}
	return a.publishable(t, p)
}

// publishable returns t's message if p's consent allows its purpose.
func (a *Activator) publishable(t *trigger.Trigger, p *profile.Profile) (kafka.Message, bool, error) {
	if !a.rules.Allows(t.Purpose, p.Psychographic.Consent) {
		a.m.suppressed.WithLabelValues(string(t.Type), "consent").Inc()
		return kafka.Message{}, false, nil
	}
	v, err := json.Marshal(t)
	if err != nil {
		return kafka.Message{}, false, fmt.Errorf("encode trigger %s: %w", t.TriggerID, err)
	}
	hs := t.Headers()
	headers := make([]kafka.Header, len(hs))
	for i, h := range hs {
		headers[i] = kafka.Header(h)
	}
	return kafka.Message{Topic: a.topic, Key: []byte(t.ProfileID), Value: v, Headers: headers}, true, nil
}

// Published counts the triggers among msgs as published.
func (a *Activator) Published(msgs []kafka.Message) {
	n := map[string]int{}
	for _, m := range msgs {
		if m.Topic != a.topic {
			continue
		}
		for _, h := range m.Headers {
			if h.Key == trigger.HeaderType {
				n[string(h.Value)]++
			}
		}
	}
	for typ, k := range n {
		a.m.triggers.WithLabelValues(typ).Add(float64(k))
	}
}
