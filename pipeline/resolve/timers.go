package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// TimerConfig tunes the timer loop each resolver runs.
type TimerConfig struct {
	// Poll is how often the loop looks for due timers; a trigger fires up
	// to Poll after it is due.
	Poll time.Duration `yaml:"poll"`
	// Lease is how long a claimed timer (or a batch's transition) stays
	// with its claimer before another resolver may claim it again: longer
	// than publishing takes, short enough that a crashed resolver's
	// triggers go out soon after.
	Lease time.Duration `yaml:"lease"`
	// Claim is the most timers claimed at once.
	Claim int `yaml:"claim"`
}

// DefaultTimers polls every second, leases for 30 s, claims 500 at a time.
func DefaultTimers() TimerConfig {
	return TimerConfig{Poll: time.Second, Lease: 30 * time.Second, Claim: 500}
}

// Validate checks the timer settings.
func (c TimerConfig) Validate() error {
	var errs []error
	if c.Poll <= 0 {
		errs = append(errs, fmt.Errorf("resolver.timers.poll: must be positive, got %s", c.Poll))
	}
	if c.Lease < time.Second {
		errs = append(errs, fmt.Errorf("resolver.timers.lease: must be at least 1s, got %s", c.Lease))
	}
	if c.Claim < 1 {
		errs = append(errs, fmt.Errorf("resolver.timers.claim: must be >= 1, got %d", c.Claim))
	}
	return errors.Join(errs...)
}

// RunTimers fires due timers until ctx ends: every Poll it claims the due
// timers of each tenant that has some, publishes their triggers with w,
// and acks them. Any number of resolvers may run it: a timer is claimed
// by one at a time. It returns nil when ctx ends; errors of one round are
// logged and the round is tried again at the next poll (what was claimed
// and not acked is claimed again when its lease runs out).
func (a *Activator) RunTimers(ctx context.Context, w *kafka.Writer, deadLetter string, log *slog.Logger) error {
	t := time.NewTicker(a.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := a.FireDue(ctx, w, deadLetter); err != nil && ctx.Err() == nil {
			log.Warn("firing timers failed; retrying at the next poll", "err", err)
		}
	}
}

// FireDue fires what is due now in every tenant (one round of RunTimers).
func (a *Activator) FireDue(ctx context.Context, w *kafka.Writer, deadLetter string) error {
	tenants, err := a.store.DueTenants(ctx, a.now())
	if err != nil {
		return err
	}
	var errs []error
	for _, tenant := range tenants {
		if err := a.fireTenant(ctx, tenant, w, deadLetter); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		}
	}
	return errors.Join(errs...)
}

// fireTenant claims, publishes and acks one tenant's due timers, Claim at
// a time, until none is left.
func (a *Activator) fireTenant(ctx context.Context, tenant string, w *kafka.Writer, deadLetter string) error {
	for ctx.Err() == nil {
		now := a.now()
		claimed, err := a.store.ClaimTimers(ctx, tenant, now, a.cfg.Claim, a.cfg.Lease)
		if err != nil || len(claimed) == 0 {
			return err
		}
		out, err := a.fire(ctx, tenant, claimed, now, deadLetter)
		if err != nil {
			return err
		}
		if len(out.Messages) > 0 {
			if err := w.WriteMessages(ctx, out.Messages...); err != nil {
				return fmt.Errorf("publish triggers: %w", err)
			}
			a.Published(out.Messages)
		}
		if err := a.Ack(ctx, tenant, out.Done); err != nil {
			return err
		}
		if len(claimed) < a.cfg.Claim {
			return nil
		}
	}
	return nil
}

// fire builds the messages of claimed occurrences (due at or before now)
// and returns them with everything to ack: the occurrences, and the
// transitions that re-evaluations enqueued.
func (a *Activator) fire(ctx context.Context, tenant string, claimed []redisstore.Claimed, now time.Time, deadLetter string) (Activation, error) {
	out := Activation{Done: claimed}
	// The profiles as they are now, by the id a timer names; nil if gone.
	profiles := map[string]*profile.Profile{}
	liveIDs := map[string]string{}
	profileOf := func(pid string) (*profile.Profile, error) {
		if p, ok := profiles[pid]; ok {
			return p, nil
		}
		live, st, err := a.store.Profile(ctx, tenant, pid)
		if errors.Is(err, redisstore.ErrNotFound) {
			profiles[pid] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p := a.model.Render(tenant, live, st, profile.Meta{AsOf: now})
		profiles[pid], liveIDs[pid] = p, live
		return p, nil
	}
	var inputs []redisstore.ActivationInput
	evaluated := map[string]*profile.Profile{}
	for _, c := range claimed {
		var tp timerPayload
		if err := json.Unmarshal(c.Payload, &tp); err != nil || tp.ProfileID == "" {
			// Not a payload this version writes: say so on the dead-letter
			// topic rather than drop it unseen.
			if err == nil {
				err = errors.New("profile_id: required")
			}
			out.Messages = append(out.Messages, kafkaio.DeadLetter(deadLetter, []byte(c.ID), c.Payload,
				fmt.Errorf("timer %s: payload: %w", c.ID, err), kafkaio.Origin{Stage: "timers", Tenant: tenant}, now))
			a.m.suppressed.WithLabelValues("unknown", "malformed").Inc()
			continue
		}
		p, err := profileOf(tp.ProfileID)
		if err != nil {
			return out, err
		}
		a.m.delay.WithLabelValues(timerKind(tp.Kind)).Observe(now.Sub(c.Due).Seconds())
		var t *trigger.Trigger
		switch tp.Kind {
		case redisstore.KindEval:
			// Re-evaluate a live profile; one merged away or deleted has no
			// segments to re-evaluate.
			if p != nil && liveIDs[tp.ProfileID] == tp.ProfileID && evaluated[tp.ProfileID] == nil {
				in := a.Evaluate(p)
				in.Reevaluate, in.At = true, c.Due
				inputs = append(inputs, in)
				evaluated[tp.ProfileID] = p
			}
			continue
		case redisstore.KindSegmentEntered, redisstore.KindSegmentExited, redisstore.KindLifecycleChanged:
			// A transition whose publisher's lease ran out.
			msg, ok, err := a.transitionOf(c.ID, tp.Transition, p)
			if err != nil {
				return out, err
			}
			if ok {
				out.Messages = append(out.Messages, msg)
			}
			continue
		case timerCart:
			t = a.cartTrigger(tp.Cart, p, c.Due, now)
		case timerFollowUp:
			t = a.followUpTrigger(tp.FollowUp, p, c.Due, now)
		default:
			out.Messages = append(out.Messages, kafkaio.DeadLetter(deadLetter, []byte(c.ID), c.Payload,
				fmt.Errorf("timer %s: kind: %q is not a timer kind this version knows", c.ID, tp.Kind),
				kafkaio.Origin{Stage: "timers", Tenant: tenant}, now))
			a.m.suppressed.WithLabelValues("unknown", "malformed").Inc()
			continue
		}
		if t == nil {
			continue
		}
		msg, ok, err := a.publishable(t, p)
		if err != nil {
			return out, err
		}
		if ok {
			out.Messages = append(out.Messages, msg)
		}
	}
	if len(inputs) == 0 {
		return out, nil
	}
	transitions, err := a.store.Activate(ctx, tenant, inputs, nil, now, a.cfg.Lease)
	if err != nil {
		return out, err
	}
	for _, c := range transitions {
		msg, ok, err := a.transition(c, func(pid string) *profile.Profile { return evaluated[pid] })
		if err != nil {
			return out, err
		}
		if ok {
			out.Messages = append(out.Messages, msg)
		}
	}
	out.Done = append(out.Done, transitions...)
	return out, nil
}

// cartTrigger returns the cart.abandoned trigger of a due cart, or nil if
// the profile is gone, ordered since the cart (whichever profile the order
// reached: a merge since the cart carries it over) or the cart is too old.
func (a *Activator) cartTrigger(c *trigger.Cart, p *profile.Profile, due, now time.Time) *trigger.Trigger {
	typ := string(trigger.TypeCartAbandoned)
	switch {
	case c == nil || p == nil:
		a.m.suppressed.WithLabelValues(typ, "gone").Inc()
	case c.OrderedSince(p):
		a.m.suppressed.WithLabelValues(typ, "cancelled").Inc()
	case a.rules.TooLate(due, now):
		a.m.suppressed.WithLabelValues(typ, "late").Inc()
	default:
		return c.Trigger(a.rules.Cart, p)
	}
	return nil
}

// followUpTrigger returns the follow_up trigger of a due follow-up, or nil
// if the profile is gone, its rule is no longer configured or it is too
// old. (Its cancelling event removed it before it was due.)
func (a *Activator) followUpTrigger(f *trigger.FollowUp, p *profile.Profile, due, now time.Time) *trigger.Trigger {
	typ := string(trigger.TypeFollowUp)
	if f == nil || p == nil {
		a.m.suppressed.WithLabelValues(typ, "gone").Inc()
		return nil
	}
	if a.rules.TooLate(due, now) {
		a.m.suppressed.WithLabelValues(typ, "late").Inc()
		return nil
	}
	t, ok := f.Trigger(a.rules.FollowUps, p)
	if !ok {
		a.m.suppressed.WithLabelValues(typ, "rule_removed").Inc()
		return nil
	}
	return t
}

// timerKind is the metric label of a payload kind.
func timerKind(k string) string {
	switch k {
	case redisstore.KindEval, timerCart, timerFollowUp:
		return k
	}
	return "transition"
}
