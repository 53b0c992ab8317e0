package profile

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config says which events and properties feed which profile fields, and
// how derived fields are computed: the `profile:` section of the
// configuration (docs/cxstream.example.yaml). The defaults follow the
// Segment e-commerce spec; docs/ARCHITECTURE.md ("Profiles") lists every
// field and its source.
type Config struct {
	Orders    OrderConfig     `yaml:"orders"`
	Currency  CurrencyConfig  `yaml:"currency"`
	Sessions  SessionConfig   `yaml:"sessions"`
	Feedback  FeedbackConfig  `yaml:"feedback"`
	Lifecycle LifecycleConfig `yaml:"lifecycle"`
	RFM       RFMConfig       `yaml:"rfm"`
}

// OrderConfig names the transactional events.
type OrderConfig struct {
	// Events are the track event names of completed orders.
	Events []string `yaml:"events"`
	// RefundEvents are the track event names of refunds.
	RefundEvents []string `yaml:"refund_events"`
	// ValueProperties are the properties holding an order's or refund's
	// amount; the first that is a number counts.
	ValueProperties []string `yaml:"value_properties"`
}

// CurrencyConfig says how amounts in several currencies are reported.
type CurrencyConfig struct {
	// Reporting is the currency lifetime value and average order value are
	// reported in (ISO 4217).
	Reporting string `yaml:"reporting"`
	// Default is the currency of an amount whose event names none.
	Default string `yaml:"default"`
	// Rates are units of the reporting currency per unit of each other
	// currency. Amounts in a currency without a rate are kept per currency
	// and listed as unconverted.
	Rates map[string]float64 `yaml:"rates"`
}

// SessionConfig says how events are grouped into sessions.
type SessionConfig struct {
	// Properties are the property (or context) keys holding a session id;
	// the first that is set counts.
	Properties []string `yaml:"properties"`
	// Window groups the events of a channel without a session id: one
	// session per channel and window of event time.
	Window time.Duration `yaml:"window"`
}

// FeedbackConfig names the survey and feedback properties.
type FeedbackConfig struct {
	NPSProperty  string `yaml:"nps_property"`
	CSATProperty string `yaml:"csat_property"`
	// TextProperties hold free-text feedback; the first that is a
	// non-empty string is scored for sentiment.
	TextProperties []string `yaml:"text_properties"`
}

// LifecycleConfig sets the lifecycle stage thresholds, in days.
type LifecycleConfig struct {
	// NewDays: first seen at most this long ago -> "new".
	NewDays int `yaml:"new_days"`
	// ActiveDays: last seen longer ago than this -> "at_risk".
	ActiveDays int `yaml:"active_days"`
	// ChurnDays: last seen longer ago than this -> "churned".
	ChurnDays int `yaml:"churn_days"`
}

// RFMConfig sets the boundaries of the RFM scores 1 to 5: four ascending
// numbers each. Recency scores 5 for a last order at most RecencyDays[0]
// days ago, down to 1 beyond RecencyDays[3]; frequency scores 1 below
// FrequencyOrders[0] orders, up to 5 from FrequencyOrders[3]; monetary
// likewise over lifetime value in the reporting currency.
type RFMConfig struct {
	RecencyDays     []float64 `yaml:"recency_days"`
	FrequencyOrders []float64 `yaml:"frequency_orders"`
	Monetary        []float64 `yaml:"monetary"`
}

// DefaultConfig returns the shipped profile configuration.
func DefaultConfig() Config {
	return Config{
		Orders: OrderConfig{
			Events:          []string{"Order Completed"},
			RefundEvents:    []string{"Order Refunded"},
			ValueProperties: []string{"revenue", "total", "value"},
		},
		Currency: CurrencyConfig{Reporting: "USD", Default: "USD", Rates: map[string]float64{}},
		Sessions: SessionConfig{Properties: []string{"session_id", "sessionId"}, Window: 30 * time.Minute},
		Feedback: FeedbackConfig{
			NPSProperty: "nps", CSATProperty: "csat",
			TextProperties: []string{"feedback", "comment", "review"},
		},
		Lifecycle: LifecycleConfig{NewDays: 30, ActiveDays: 30, ChurnDays: 90},
		RFM: RFMConfig{
			RecencyDays:     []float64{7, 30, 90, 180},
			FrequencyOrders: []float64{2, 3, 5, 10},
			Monetary:        []float64{100, 250, 500, 1000},
		},
	}
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// Compile checks the configuration and returns the model it describes.
// Every problem is reported with its key.
func (c Config) Compile() (*Model, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("profile.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(c.Orders.Events) == 0 {
		bad("orders.events", "name at least one order event")
	}
	if len(c.Orders.ValueProperties) == 0 {
		bad("orders.value_properties", "name at least one property")
	}
	for key, cur := range map[string]string{"currency.reporting": c.Currency.Reporting, "currency.default": c.Currency.Default} {
		if !currencyPattern.MatchString(cur) {
			bad(key, "%q is not an ISO 4217 code (three capital letters)", cur)
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(c.Currency.Rates)) {
		r := c.Currency.Rates[cur]
		if !currencyPattern.MatchString(cur) {
			bad("currency.rates", "%q is not an ISO 4217 code", cur)
		}
		if r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			bad("currency.rates."+cur, "must be a positive number (got %v)", r)
		}
	}
	if c.Sessions.Window <= 0 {
		bad("sessions.window", "must be positive")
	}
	l := c.Lifecycle
	if l.NewDays <= 0 || l.ActiveDays <= 0 || l.ChurnDays <= 0 {
		bad("lifecycle", "new_days, active_days and churn_days must be positive")
	} else if l.ActiveDays >= l.ChurnDays {
		bad("lifecycle.churn_days", "must be greater than active_days (%d)", l.ActiveDays)
	}
	for key, b := range map[string][]float64{"rfm.recency_days": c.RFM.RecencyDays,
		"rfm.frequency_orders": c.RFM.FrequencyOrders, "rfm.monetary": c.RFM.Monetary} {
		if len(b) != 4 || !slices.IsSorted(b) || b[0] < 0 || b[0] == b[1] || b[1] == b[2] || b[2] == b[3] {
			bad(key, "must be four ascending numbers >= 0 (got %v)", b)
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	m := &Model{cfg: c, orders: set(c.Orders.Events), refunds: set(c.Orders.RefundEvents)}
	return m, nil
}

// MustCompile compiles a configuration known to be valid.
func (c Config) MustCompile() *Model {
	m, err := c.Compile()
	if err != nil {
		panic(err)
	}
	return m
}

// Default returns the model of DefaultConfig.
func Default() *Model { return DefaultConfig().MustCompile() }

// Model folds events into profile states and renders states as profiles,
// under one Config. It is safe for concurrent use.
type Model struct {
	cfg             Config
	orders, refunds map[string]bool
}

// Config returns the configuration the model was compiled from.
func (m *Model) Config() Config { return m.cfg }

func set(names []string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}
