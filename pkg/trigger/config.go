package trigger

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config holds the trigger rules: the `triggers:` section of the
// configuration. Every key is optional; Default shows the defaults, and
// the package comment a complete example.
type Config struct {
	// RequireOptIn makes consent opt-in: a trigger with a purpose is sent
	// only to customers whose consent for it is recorded as true. By
	// default (false) it is sent unless they opted out (see Allowed).
	RequireOptIn bool `yaml:"require_opt_in"`
	// MaxLateness drops time-driven triggers (cart, follow-up) and alerts
	// found due longer ago than this, so that importing or replaying old
	// events does not email customers about last year's cart. 0: no limit.
	MaxLateness      Duration               `yaml:"max_lateness"`
	Cart             CartConfig             `yaml:"cart"`
	FollowUps        []FollowUpRule         `yaml:"follow_ups"`
	NegativeFeedback NegativeFeedbackConfig `yaml:"negative_feedback"`
	Lifecycle        LifecycleConfig        `yaml:"lifecycle"`
}

// CartConfig is the cart abandonment rule: cart activity followed by no
// order within Window fires cart.abandoned.
type CartConfig struct {
	Enabled bool     `yaml:"enabled"`
	Window  Duration `yaml:"window"`
	// Events are the track event names of cart activity; the window runs
	// from the latest of them.
	Events []string `yaml:"events"`
	// OrderEvents are the track event names that close a cart. Left
	// empty (the default) they are the profile's order events
	// (profile.orders.events; see WithOrderEvents), so that what closes a
	// cart is what counts as an order.
	OrderEvents []string `yaml:"order_events"`
	Purpose     string   `yaml:"purpose"`
}

// FollowUpRule schedules a follow_up trigger Delay after each AfterEvent,
// unless UnlessEvent happens in between.
type FollowUpRule struct {
	// Name names the rule in trigger ids and reasons: lower-case letters,
	// digits, _ and -.
	Name string `yaml:"name"`
	// AfterEvent is the track event name that starts the delay.
	AfterEvent string   `yaml:"after_event"`
	Delay      Duration `yaml:"delay"`
	// UnlessEvent, if set, is the track event name that cancels the
	// follow-up when it happens at or after the source event (and before
	// the follow-up is due).
	UnlessEvent string `yaml:"unless_event"`
	// Purpose is required: a follow-up contacts the customer, so it
	// always serves a purpose.
	Purpose string `yaml:"purpose"`
}

// NegativeFeedbackConfig says which feedback raises an
// alert.negative_feedback: any one of the checks suffices.
type NegativeFeedbackConfig struct {
	Enabled bool `yaml:"enabled"`
	// NPSAtMost alerts on an NPS answer (0 to 10) at or below it; 6, the
	// top of the detractor range, by default. Negative: no NPS check.
	NPSAtMost float64 `yaml:"nps_at_most"`
	// CSATAtMost alerts on a CSAT answer (1 to 5, the scale of the
	// profile; the help-desk mapping rates bad as 1 and good as 5) at or
	// below it; 2 by default. Negative: no CSAT check.
	CSATAtMost float64 `yaml:"csat_at_most"`
	// NegativeSentiment alerts on free text that pkg/sentiment labels
	// negative (score -250 or below), on events that carry no NPS or CSAT
	// answer: where there is an answer, the answer decides.
	NegativeSentiment bool `yaml:"negative_sentiment"`
	// Complaints alerts on help-desk tickets marked as complaints.
	Complaints ComplaintConfig `yaml:"complaints"`
	Purpose    string          `yaml:"purpose"`
}

// ComplaintConfig recognises complaint tickets: an event named in Events
// whose properties named in Properties hold one of Values (a string, a
// list of strings, or a string of words separated by commas or spaces;
// compared without regard to case). The help-desk mapping puts the
// ticket's tags in "tags".
type ComplaintConfig struct {
	// Events are the event names to look at; none turns the check off.
	Events     []string `yaml:"events"`
	Properties []string `yaml:"properties"`
	Values     []string `yaml:"values"`
}

// LifecycleConfig publishes lifecycle.changed when a profile's lifecycle
// stage changes.
type LifecycleConfig struct {
	Enabled bool   `yaml:"enabled"`
	Purpose string `yaml:"purpose"`
}

// Default returns the shipped rules: cart abandonment after 1h, alerts on
// NPS 0-6, CSAT 1-2, negative free text and complaint tickets, lifecycle
// changes, no follow-ups, consent opt-out, and nothing more than a day
// late.
func Default() Config {
	return Config{
		MaxLateness: Duration(24 * time.Hour),
		Cart: CartConfig{
			Enabled: true,
			Window:  Duration(time.Hour),
			Events:  []string{"Product Added", "Cart Viewed", "Checkout Started"},
			Purpose: "marketing",
		},
		FollowUps: []FollowUpRule{},
		NegativeFeedback: NegativeFeedbackConfig{
			Enabled:           true,
			NPSAtMost:         6,
			CSATAtMost:        2,
			NegativeSentiment: true,
			Complaints: ComplaintConfig{
				Events:     []string{"Ticket Opened", "Ticket Updated"},
				Properties: []string{"tags", "type", "category"},
				Values:     []string{"complaint"},
			},
			Purpose: "service",
		},
		Lifecycle: LifecycleConfig{Enabled: true},
	}
}

var ruleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate checks the rules and names every wrong key and why, as
// triggers.<key>: <problem>.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("triggers.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.MaxLateness < 0 {
		bad("max_lateness", "must not be negative (0: no limit), got %s", c.MaxLateness)
	}

	cart := c.Cart
	if cart.Window <= 0 {
		bad("cart.window", "must be positive, e.g. 1h (got %s)", cart.Window)
	}
	names("cart.events", cart.Events, true, bad)
	names("cart.order_events", cart.OrderEvents, false, bad)
	for _, n := range cart.Events {
		if n != "" && slices.Contains(cart.OrderEvents, n) {
			bad("cart.events", "%q is also an order event; an event either fills a cart or closes it", n)
		}
	}

	seen := map[string]bool{}
	for i, r := range c.FollowUps {
		key := fmt.Sprintf("follow_ups[%d]", i)
		switch {
		case !ruleName.MatchString(r.Name):
			bad(key+".name", "%q: want 1 to 64 lower-case letters, digits, _ or -, starting with a letter or digit", r.Name)
		case seen[r.Name]:
			bad(key+".name", "%q names two rules; names must be unique", r.Name)
		}
		seen[r.Name] = true
		if strings.TrimSpace(r.AfterEvent) == "" {
			bad(key+".after_event", "required: the event name that starts the delay")
		}
		if r.Delay <= 0 {
			bad(key+".delay", "must be positive, e.g. 168h or 7d (got %s)", r.Delay)
		}
		if r.UnlessEvent != "" && strings.TrimSpace(r.UnlessEvent) == "" {
			bad(key+".unless_event", "is blank; leave it out for no cancelling event")
		}
		if strings.TrimSpace(r.Purpose) == "" {
			bad(key+".purpose", "required: the consent purpose the follow-up serves, e.g. marketing")
		}
	}

	nf := c.NegativeFeedback
	if math.IsNaN(nf.NPSAtMost) || nf.NPSAtMost >= 10 {
		bad("negative_feedback.nps_at_most", "must be below 10, the best answer (negative: no NPS check), got %v", nf.NPSAtMost)
	}
	if math.IsNaN(nf.CSATAtMost) || nf.CSATAtMost >= 5 {
		bad("negative_feedback.csat_at_most", "must be below 5, the best answer on the 1-5 scale (negative: no CSAT check), got %v", nf.CSATAtMost)
	}
	if cc := nf.Complaints; len(cc.Events) > 0 {
		names("negative_feedback.complaints.events", cc.Events, false, bad)
		names("negative_feedback.complaints.properties", cc.Properties, true, bad)
		names("negative_feedback.complaints.values", cc.Values, true, bad)
	}
	if nf.Enabled && nf.NPSAtMost < 0 && nf.CSATAtMost < 0 && !nf.NegativeSentiment && len(nf.Complaints.Events) == 0 {
		bad("negative_feedback", "enabled with every check off; set enabled: false or turn a check on")
	}

	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return errors.Join(errs...)
	}
	return nil
}

// WithOrderEvents returns c with orders (the profile's order events) as
// the events that close a cart, unless c names its own.
func (c Config) WithOrderEvents(orders []string) Config {
	if len(c.Cart.OrderEvents) == 0 {
		c.Cart.OrderEvents = slices.Clone(orders)
	}
	return c
}

// names checks a list of names: no blank entries, and at least one if
// required.
func names(key string, list []string, required bool, bad func(key, format string, args ...any)) {
	if required && len(list) == 0 {
		bad(key, "name at least one")
	}
	for i, n := range list {
		if strings.TrimSpace(n) == "" {
			bad(fmt.Sprintf("%s[%d]", key, i), "is blank")
		}
	}
}

// Allows reports whether a trigger for purpose may be sent to a customer
// with the given consent: Allowed, or with RequireOptIn, only if consent
// for the purpose is recorded as granted. A trigger without a purpose is
// always allowed.
func (c Config) Allows(purpose string, consent map[string]bool) bool {
	if c.RequireOptIn && purpose != "" {
		return consent[purpose]
	}
	return Allowed(purpose, consent)
}

// TooLate reports whether a trigger due at due is, at now, older than
// MaxLateness allows.
func (c Config) TooLate(due, now time.Time) bool {
	return c.MaxLateness > 0 && now.Sub(due) > time.Duration(c.MaxLateness)
}

// Allowed is the consent rule: a trigger serving purpose may be sent
// unless the customer opted out of that purpose (consent[purpose] recorded
// as false). No consent recorded for the purpose means allowed (opt-out);
// Config.RequireOptIn makes it opt-in. A trigger without a purpose ("")
// is always allowed. Purposes are compared exactly as the consent map
// spells them (profile.Psychographic.Consent).
func Allowed(purpose string, consent map[string]bool) bool {
	if purpose == "" {
		return true
	}
	granted, recorded := consent[purpose]
	return !recorded || granted
}
