package trigger

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// decode reads a configuration document over the defaults, as the process
// configuration does (unknown keys are an error).
func decode(t *testing.T, doc []byte) Config {
	t.Helper()
	var wrapper struct {
		Triggers Config `yaml:"triggers"`
	}
	wrapper.Triggers = Default()
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&wrapper); err != nil {
		t.Fatal(err)
	}
	return wrapper.Triggers
}

// The example in the package comment is testdata/example.yaml, and it is
// the defaults plus the whitepaper rule.
func TestExampleConfig(t *testing.T) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var commented strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimSuffix(string(example), "\n"), "\n") {
		commented.WriteString("//\t" + line)
	}
	if !strings.Contains(string(doc), commented.String()+"\n") {
		t.Errorf("doc.go does not show testdata/example.yaml; it should read:\n%s", commented.String())
	}

	got := decode(t, example)
	want := Default()
	want.FollowUps = []FollowUpRule{{Name: "whitepaper", AfterEvent: "Whitepaper Downloaded",
		Delay: Duration(7 * 24 * time.Hour), UnlessEvent: "Demo Requested", Purpose: "marketing"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example decodes to\n%+v\nwant the defaults plus the whitepaper rule\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
}

func TestDurationInYAML(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want time.Duration
	}{
		{"window: 1h", time.Hour},
		{"window: 90m", 90 * time.Minute},
		{"window: 7d", 7 * 24 * time.Hour},
		{"window: \"1d12h\"", 36 * time.Hour},
	} {
		var v struct {
			Window Duration `yaml:"window"`
		}
		if err := yaml.Unmarshal([]byte(tt.doc), &v); err != nil {
			t.Errorf("%s: %v", tt.doc, err)
			continue
		}
		if time.Duration(v.Window) != tt.want {
			t.Errorf("%s: got %s, want %s", tt.doc, time.Duration(v.Window), tt.want)
		}
	}
	var v struct {
		Window Duration `yaml:"window"`
	}
	if err := yaml.Unmarshal([]byte("window: 3600"), &v); err == nil {
		t.Errorf("a bare number decoded as %s; want an error asking for a unit", time.Duration(v.Window))
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		text string // String of the result
	}{
		{"1h", time.Hour, "1h"},
		{"168h", 168 * time.Hour, "168h"},
		{"7d", 168 * time.Hour, "168h"},
		{"1d12h", 36 * time.Hour, "36h"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"30m", 30 * time.Minute, "30m"},
		{"90s", 90 * time.Second, "1m30s"},
		{" 2h ", 2 * time.Hour, "2h"},
		{"0", 0, "0s"},
		{"0d", 0, "0s"},
		{"1.5s", 1500 * time.Millisecond, "1.5s"},
	} {
		d, err := ParseDuration(tt.in)
		if err != nil || time.Duration(d) != tt.want || d.String() != tt.text {
			t.Errorf("ParseDuration(%q) = %s (%q), %v; want %s (%q)", tt.in, time.Duration(d), d.String(), err, tt.want, tt.text)
		}
	}
	for _, in := range []string{"", "d", "7", "-1d", "1d-2h", "7days", "1w", "x1h", "99999999999d", "1d1d"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %s, want an error", in, time.Duration(d))
		}
	}
}

func TestValidate(t *testing.T) {
	rule := func() FollowUpRule {
		return FollowUpRule{Name: "whitepaper", AfterEvent: "Whitepaper Downloaded", Delay: Duration(time.Hour), Purpose: "marketing"}
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // substrings of the error, each naming the key
	}{
		{"negative max_lateness", func(c *Config) { c.MaxLateness = -1 }, []string{"triggers.max_lateness: must not be negative"}},
		{"zero window", func(c *Config) { c.Cart.Window = 0 }, []string{"triggers.cart.window: must be positive"}},
		{"no cart events", func(c *Config) { c.Cart.Events = nil }, []string{"triggers.cart.events: name at least one"}},
		{"blank order event", func(c *Config) { c.Cart.OrderEvents = []string{"Order Completed", ""} }, []string{"triggers.cart.order_events[1]: is blank"}},
		{"blank cart event", func(c *Config) { c.Cart.Events = append(c.Cart.Events, " ") }, []string{"triggers.cart.events[3]: is blank"}},
		{"order event fills a cart", func(c *Config) {
			c.Cart.OrderEvents = []string{"Order Completed"}
			c.Cart.Events = append(c.Cart.Events, "Order Completed")
		},
			[]string{`triggers.cart.events: "Order Completed" is also an order event`}},
		{"rule without a name", func(c *Config) { r := rule(); r.Name = ""; c.FollowUps = []FollowUpRule{r} },
			[]string{`triggers.follow_ups[0].name: "": want 1 to 64 lower-case letters`}},
		{"rule name with spaces", func(c *Config) { r := rule(); r.Name = "White Paper"; c.FollowUps = []FollowUpRule{r} },
			[]string{`triggers.follow_ups[0].name: "White Paper"`}},
		{"duplicate rule", func(c *Config) { c.FollowUps = []FollowUpRule{rule(), rule()} },
			[]string{`triggers.follow_ups[1].name: "whitepaper" names two rules`}},
		{"rule without after_event", func(c *Config) { r := rule(); r.AfterEvent = ""; c.FollowUps = []FollowUpRule{r} },
			[]string{"triggers.follow_ups[0].after_event: required"}},
		{"rule without delay", func(c *Config) { r := rule(); r.Delay = 0; c.FollowUps = []FollowUpRule{r} },
			[]string{"triggers.follow_ups[0].delay: must be positive"}},
		{"rule with blank unless_event", func(c *Config) { r := rule(); r.UnlessEvent = "  "; c.FollowUps = []FollowUpRule{r} },
			[]string{"triggers.follow_ups[0].unless_event: is blank"}},
		{"rule without purpose", func(c *Config) { r := rule(); r.Purpose = ""; c.FollowUps = []FollowUpRule{r} },
			[]string{"triggers.follow_ups[0].purpose: required"}},
		{"nps threshold 10", func(c *Config) { c.NegativeFeedback.NPSAtMost = 10 },
			[]string{"triggers.negative_feedback.nps_at_most: must be below 10"}},
		{"nps threshold NaN", func(c *Config) { c.NegativeFeedback.NPSAtMost = math.NaN() },
			[]string{"triggers.negative_feedback.nps_at_most"}},
		{"csat threshold 5", func(c *Config) { c.NegativeFeedback.CSATAtMost = 5 },
			[]string{"triggers.negative_feedback.csat_at_most: must be below 5"}},
		{"complaints without values", func(c *Config) { c.NegativeFeedback.Complaints.Values = nil },
			[]string{"triggers.negative_feedback.complaints.values: name at least one"}},
		{"complaints without properties", func(c *Config) { c.NegativeFeedback.Complaints.Properties = []string{} },
			[]string{"triggers.negative_feedback.complaints.properties: name at least one"}},
		{"every feedback check off", func(c *Config) {
			nf := &c.NegativeFeedback
			nf.NPSAtMost, nf.CSATAtMost, nf.NegativeSentiment, nf.Complaints.Events = -1, -1, false, nil
		}, []string{"triggers.negative_feedback: enabled with every check off"}},
		{"two problems", func(c *Config) { c.Cart.Window = 0; c.NegativeFeedback.CSATAtMost = 7 },
			[]string{"triggers.cart.window", "triggers.negative_feedback.csat_at_most"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// What is allowed: checks turned off one by one, a disabled section
	// with defaults, a rule that cancels itself (a repeated download
	// restarts the delay).
	for name, change := range map[string]func(*Config){
		"nps off":              func(c *Config) { c.NegativeFeedback.NPSAtMost = -1 },
		"csat off":             func(c *Config) { c.NegativeFeedback.CSATAtMost = -1 },
		"complaints off":       func(c *Config) { c.NegativeFeedback.Complaints = ComplaintConfig{} },
		"feedback off":         func(c *Config) { c.NegativeFeedback = NegativeFeedbackConfig{NPSAtMost: -1, CSATAtMost: -1} },
		"no max_lateness":      func(c *Config) { c.MaxLateness = 0 },
		"self-cancelling":      func(c *Config) { r := rule(); r.UnlessEvent = r.AfterEvent; c.FollowUps = []FollowUpRule{r} },
		"two rules, one event": func(c *Config) { r := rule(); r.Name = "other"; c.FollowUps = []FollowUpRule{rule(), r} },
	} {
		c := Default()
		change(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConsent(t *testing.T) {
	granted := map[string]bool{"marketing": true}
	optedOut := map[string]bool{"marketing": false, "service": true}
	tests := []struct {
		purpose string
		consent map[string]bool
		allowed bool // opt-out (default)
		optIn   bool // require_opt_in
	}{
		{"marketing", granted, true, true},
		{"marketing", optedOut, false, false},
		{"marketing", nil, true, false},                             // nothing recorded
		{"marketing", map[string]bool{"email": false}, true, false}, // another purpose
		{"Marketing", optedOut, true, false},                        // purposes match exactly
		{"service", optedOut, true, true},
		{"", optedOut, true, true}, // no purpose
		{"", nil, true, true},
	}
	for _, tt := range tests {
		if got := Allowed(tt.purpose, tt.consent); got != tt.allowed {
			t.Errorf("Allowed(%q, %v) = %v, want %v", tt.purpose, tt.consent, got, tt.allowed)
		}
		c := Default()
		if got := c.Allows(tt.purpose, tt.consent); got != tt.allowed {
			t.Errorf("Allows(%q, %v) = %v, want %v (opt-out)", tt.purpose, tt.consent, got, tt.allowed)
		}
		c.RequireOptIn = true
		if got := c.Allows(tt.purpose, tt.consent); got != tt.optIn {
			t.Errorf("Allows(%q, %v) = %v, want %v (require_opt_in)", tt.purpose, tt.consent, got, tt.optIn)
		}
	}
}

func TestTooLate(t *testing.T) {
	due := time.Date(2026, 3, 12, 10, 0, 0, 0, time.UTC)
	c := Default() // 24h
	for _, tt := range []struct {
		now  time.Time
		late bool
	}{
		{due.Add(-time.Hour), false},
		{due, false},
		{due.Add(24 * time.Hour), false},
		{due.Add(24*time.Hour + time.Millisecond), true},
	} {
		if got := c.TooLate(due, tt.now); got != tt.late {
			t.Errorf("TooLate(due, due%+v) = %v, want %v", tt.now.Sub(due), got, tt.late)
		}
	}
	c.MaxLateness = 0
	if c.TooLate(due, due.Add(1000*time.Hour)) {
		t.Error("max_lateness 0 should keep everything")
	}
}
