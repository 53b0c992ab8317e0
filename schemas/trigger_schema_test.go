package schemas

// This file is in package schemas, not schemas_test like schemas_test.go,
// so that its helpers cannot clash with that file's.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/trigger"
)

// node is the part of JSON Schema 2020-12 that trigger.schema.json uses
// and triggerValidate checks.
type node struct {
	Ref         string           `json:"$ref"`
	Type        string           `json:"type"`
	Required    []string         `json:"required"`
	Properties  map[string]*node `json:"properties"`
	Additional  json.RawMessage  `json:"additionalProperties"`
	Items       *node            `json:"items"`
	Enum        []any            `json:"enum"`
	Const       any              `json:"const"`
	Format      string           `json:"format"`
	Pattern     string           `json:"pattern"`
	Minimum     *float64         `json:"minimum"`
	Maximum     *float64         `json:"maximum"`
	MinItems    *int             `json:"minItems"`
	AllOf       []*node          `json:"allOf"`
	If          *node            `json:"if"`
	Then        *node            `json:"then"`
	Description string           `json:"description"`
	Defs        map[string]*node `json:"$defs"`
}

func loadTriggerSchema(t *testing.T) *node {
	t.Helper()
	b, err := fs.ReadFile(JSON, "trigger.schema.json")
	if err != nil {
		t.Fatalf("trigger.schema.json is not embedded: %v", err)
	}
	var n node
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

var (
	uuidFormat = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// keywords the validator implements; a schema using another fails the
	// test rather than being checked less than it seems.
	keywords = []string{"$schema", "$id", "$ref", "$defs", "title", "description", "type", "required", "properties",
		"additionalProperties", "items", "enum", "const", "format", "pattern", "minimum", "maximum", "minItems", "allOf",
		"if", "then"}
)

// triggerValidate returns every way v (decoded JSON) breaks schema n, at
// path; root resolves $ref.
func triggerValidate(root, n *node, v any, path string) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	if n.Ref != "" {
		name, ok := strings.CutPrefix(n.Ref, "#/$defs/")
		def := root.Defs[name]
		if !ok || def == nil {
			bad("unresolved $ref %s", n.Ref)
			return errs
		}
		errs = append(errs, triggerValidate(root, def, v, path)...)
	}
	switch n.Type {
	case "":
	case "object":
		if _, ok := v.(map[string]any); !ok {
			bad("want an object, got %T", v)
			return errs
		}
	case "array":
		if _, ok := v.([]any); !ok {
			bad("want an array, got %T", v)
			return errs
		}
	case "string":
		if _, ok := v.(string); !ok {
			bad("want a string, got %T", v)
			return errs
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != math.Trunc(f) {
			bad("want an integer, got %v", v)
			return errs
		}
	case "number":
		if _, ok := v.(float64); !ok {
			bad("want a number, got %T", v)
			return errs
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("want a boolean, got %T", v)
			return errs
		}
	default:
		bad("the validator does not know type %q", n.Type)
	}
	if n.Enum != nil && !slices.ContainsFunc(n.Enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		bad("%v is not one of %v", v, n.Enum)
	}
	if n.Const != nil && !reflect.DeepEqual(n.Const, v) {
		bad("%v is not %v", v, n.Const)
	}
	if s, ok := v.(string); ok {
		switch n.Format {
		case "":
		case "uuid":
			if !uuidFormat.MatchString(s) {
				bad("%q is not a UUID", s)
			}
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				bad("%q is not a date-time", s)
			}
		default:
			bad("the validator does not know format %q", n.Format)
		}
		if n.Pattern != "" && !regexp.MustCompile(n.Pattern).MatchString(s) {
			bad("%q does not match %s", s, n.Pattern)
		}
	}
	if f, ok := v.(float64); ok {
		if n.Minimum != nil && f < *n.Minimum {
			bad("%v is below %v", f, *n.Minimum)
		}
		if n.Maximum != nil && f > *n.Maximum {
			bad("%v is above %v", f, *n.Maximum)
		}
	}
	if a, ok := v.([]any); ok {
		if n.MinItems != nil && len(a) < *n.MinItems {
			bad("%d items, want at least %d", len(a), *n.MinItems)
		}
		if n.Items != nil {
			for i, item := range a {
				errs = append(errs, triggerValidate(root, n.Items, item, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	if o, ok := v.(map[string]any); ok {
		for _, k := range n.Required {
			if _, ok := o[k]; !ok {
				bad("%s is required", k)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(o)) {
			if p, ok := n.Properties[k]; ok {
				errs = append(errs, triggerValidate(root, p, o[k], path+"."+k)...)
				continue
			}
			switch add := strings.TrimSpace(string(n.Additional)); {
			case add == "false":
				bad("%s is not in the schema", k)
			case strings.HasPrefix(add, "{"):
				var an node
				if err := json.Unmarshal(n.Additional, &an); err != nil {
					bad("additionalProperties: %v", err)
				}
				errs = append(errs, triggerValidate(root, &an, o[k], path+"."+k)...)
			}
		}
	}
	for _, sub := range n.AllOf {
		errs = append(errs, triggerValidate(root, sub, v, path)...)
	}
	if n.If != nil && len(triggerValidate(root, n.If, v, path)) == 0 && n.Then != nil {
		errs = append(errs, triggerValidate(root, n.Then, v, path)...)
	}
	return errs
}

// triggerSamples returns one trigger of each type, with every optional
// field that type can carry.
func triggerSamples(t *testing.T) []*trigger.Trigger {
	t.Helper()
	at := time.Date(2026, 3, 12, 18, 20, 0, 0, time.UTC)
	p := &profile.Profile{
		ProfileID: "7b0e2f4a-1c3d-5e6f-8a9b-0c1d2e3f4a5b", Tenant: "acme", Version: 42, AsOf: at,
		Identifiers: map[string][]string{"email": {"jane.doe@example.com"}, "user_id": {"cust-1001"},
			"x_handle": {"janedoe_42"}, "instagram_handle": {"jane.doe", "jane.runs"}},
		Demographic: profile.Demographic{Name: "Jane Doe", Email: "jane.doe@example.com", Phone: "+4915112345678",
			Locale: "de-DE"},
	}
	cfg := trigger.Default()
	ev := func(name, channel, props string) *event.Event {
		return &event.Event{EventID: "e-" + channel, Tenant: "acme", Channel: channel, Type: event.TypeTrack, Name: name,
			EventTime: at, Properties: json.RawMessage(props)}
	}
	var out []*trigger.Trigger
	out = append(out,
		trigger.SegmentChange{Name: "vip_at_risk", Description: "derived.lifecycle = at_risk"}.Trigger(p, true, "marketing", at, 0),
		trigger.SegmentChange{Name: "vip_at_risk"}.Trigger(p, false, "", at, 0),
		trigger.SegmentChange{Name: "vip", MergedInto: "9f1c2d3e-4b5a-5c6d-8e7f-0a1b2c3d4e5f"}.Trigger(p, false, "", at, 1))
	lc, ok := trigger.LifecycleChange{From: "active", To: "at_risk"}.Trigger(cfg.Lifecycle, p, at, 0)
	if !ok {
		t.Fatal("no lifecycle trigger")
	}
	first, _ := trigger.LifecycleChange{To: "new"}.Trigger(cfg.Lifecycle, p, at, 0)
	out = append(out, lc, first)
	for _, props := range []string{
		`{"product_id":"p1","name":"Runner","price":89.9,"quantity":2,"currency":"eur","cart_id":"c1"}`,
		`{"page":"cart"}`,
	} {
		e := ev("Product Added", "web", props)
		if !trigger.CartActivity(cfg.Cart, e) {
			t.Fatal("Product Added is not cart activity")
		}
		out = append(out, trigger.CartOf(cfg.Cart, e).Trigger(cfg.Cart, p))
	}
	rules := []trigger.FollowUpRule{{Name: "whitepaper", AfterEvent: "Whitepaper Downloaded",
		Delay: trigger.Duration(7 * 24 * time.Hour), UnlessEvent: "Demo Requested", Purpose: "marketing"},
		{Name: "thanks", AfterEvent: "Whitepaper Downloaded", Delay: trigger.Duration(90 * time.Minute), Purpose: "marketing"}}
	for _, f := range trigger.FollowUpsFor(rules, ev("Whitepaper Downloaded", "web", `{}`)) {
		tr, ok := f.Trigger(rules, p)
		if !ok {
			t.Fatal("no follow-up trigger")
		}
		out = append(out, tr)
	}
	long := strings.Repeat("Very disappointed. ", 100)
	for _, e := range []*event.Event{
		ev("Survey Responded", "survey", `{"nps":3,"comment":"`+long+`"}`),
		ev("Survey Responded", "call_center", `{"csat":1,"ticket_id":"48213"}`),
		ev("Social Message Received", "social", `{"comment":"awful"}`),
		ev("Ticket Opened", "call_center", `{"ticket_id":48213,"subject":"Shoes arrived damaged","tags":["complaint"]}`),
	} {
		a, ok := trigger.NegativeFeedback(cfg.NegativeFeedback, e, trigger.ReadFeedback(profile.DefaultConfig().Feedback, e))
		if !ok {
			t.Fatalf("%s %s: no alert", e.Name, e.Properties)
		}
		out = append(out, a.Trigger(cfg.NegativeFeedback, p))
	}
	return out
}

func decodeTrigger(t *testing.T, tr *trigger.Trigger) map[string]any {
	t.Helper()
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTriggersMatchTheSchema(t *testing.T) {
	root := loadTriggerSchema(t)
	samples := triggerSamples(t)
	types := map[trigger.Type]bool{}
	for i, tr := range samples {
		types[tr.Type] = true
		t.Run(fmt.Sprintf("%d/%s", i, tr.Type), func(t *testing.T) {
			for _, e := range triggerValidate(root, root, decodeTrigger(t, tr), "trigger") {
				t.Error(e)
			}
		})
	}
	for _, typ := range trigger.Types {
		if !types[typ] {
			t.Errorf("no sample of %s", typ)
		}
	}
}

// The validator finds what is wrong: each change below breaks the schema.
func TestTriggerSchemaRejects(t *testing.T) {
	root := loadTriggerSchema(t)
	samples := triggerSamples(t)
	i := slices.IndexFunc(samples, func(tr *trigger.Trigger) bool { return tr.Type == trigger.TypeCartAbandoned })
	if i < 0 {
		t.Fatal("no cart.abandoned sample")
	}
	cart := samples[i]
	for name, change := range map[string]func(v map[string]any){
		"no trigger_id":        func(v map[string]any) { delete(v, "trigger_id") },
		"trigger_id not uuid":  func(v map[string]any) { v["trigger_id"] = "x" },
		"unknown type":         func(v map[string]any) { v["type"] = "cart.recovered" },
		"unknown field":        func(v map[string]any) { v["campaign"] = "spring" },
		"no cart for its type": func(v map[string]any) { delete(v, "cart") },
		"segment type, no segment": func(v map[string]any) {
			v["type"] = "segment.entered"
		},
		"at not a time":           func(v map[string]any) { v["at"] = "yesterday" },
		"version not an integer":  func(v map[string]any) { v["profile_version"] = 1.5 },
		"unknown contact field":   func(v map[string]any) { v["contact"].(map[string]any)["fax"] = "1" },
		"window not a duration":   func(v map[string]any) { v["cart"].(map[string]any)["window"] = "an hour" },
		"cart without event id":   func(v map[string]any) { delete(v["cart"].(map[string]any), "event_id") },
		"social handles a string": func(v map[string]any) { v["contact"].(map[string]any)["social"] = map[string]any{"x_handle": "a"} },
	} {
		v := decodeTrigger(t, cart)
		change(v)
		if errs := triggerValidate(root, root, v, "trigger"); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
	alert := samples[len(samples)-1]
	v := decodeTrigger(t, alert)
	v["alert"].(map[string]any)["signals"] = []any{"nps", "anger"}
	if errs := triggerValidate(root, root, v, "trigger"); len(errs) == 0 {
		t.Error("unknown signal accepted")
	}
}

// The schema describes the Go types: the same fields, the same required
// ones (those without omitempty), the same type and signal values, every
// property described, and only keywords the validator checks.
func TestTriggerSchemaMatchesGo(t *testing.T) {
	root := loadTriggerSchema(t)
	fields := func(v any) (all, required []string) {
		typ := reflect.TypeOf(v)
		for f := range typ.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			all = append(all, name)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
		slices.Sort(all)
		slices.Sort(required)
		return all, required
	}
	alert := root.Defs["alert"]
	for name, c := range map[string]struct {
		n *node
		v any
	}{
		"trigger": {root, trigger.Trigger{}}, "contact": {root.Defs["contact"], trigger.Contact{}},
		"segment": {root.Defs["segment"], trigger.SegmentChange{}}, "lifecycle": {root.Defs["lifecycle"], trigger.LifecycleChange{}},
		"cart": {root.Defs["cart"], trigger.Cart{}}, "follow_up": {root.Defs["follow_up"], trigger.FollowUp{}},
		"alert": {alert, trigger.Alert{}}, "alert.sentiment": {alert.Properties["sentiment"], trigger.Sentiment{}},
	} {
		if c.n == nil {
			t.Errorf("%s: not in the schema", name)
			continue
		}
		all, required := fields(c.v)
		if got := slices.Sorted(maps.Keys(c.n.Properties)); !slices.Equal(got, all) {
			t.Errorf("%s properties: schema %q, Go %q", name, got, all)
		}
		if got := slices.Sorted(slices.Values(c.n.Required)); !slices.Equal(got, required) {
			t.Errorf("%s required: schema %q, Go %q", name, got, required)
		}
		if string(c.n.Additional) != "false" {
			t.Errorf("%s: additionalProperties should be false", name)
		}
		for k, p := range c.n.Properties {
			if p.Description == "" && p.Ref == "" && !slices.Contains([]string{"tenant", "event_id", "event_name",
				"event_at", "source_event_id", "label", "score", "delay"}, k) {
				t.Errorf("%s.%s has no description", name, k)
			}
		}
	}
	var types []string
	for _, typ := range trigger.Types {
		types = append(types, string(typ))
	}
	if got := enumStrings(root.Properties["type"].Enum); !slices.Equal(got, types) {
		t.Errorf("type enum %q, Go constants %q", got, types)
	}
	if got := enumStrings(alert.Properties["signals"].Items.Enum); !slices.Equal(got, trigger.Signals) {
		t.Errorf("signals enum %q, Go %q", got, trigger.Signals)
	}
	if got := enumStrings(alert.Properties["scale"].Enum); !slices.Equal(got, []string{trigger.ScaleNPS, trigger.ScaleCSAT}) {
		t.Errorf("scale enum %q", got)
	}
	// Every type's detail is required by an if/then.
	detail := map[trigger.Type]string{trigger.TypeSegmentEntered: "segment", trigger.TypeSegmentExited: "segment",
		trigger.TypeLifecycleChanged: "lifecycle", trigger.TypeCartAbandoned: "cart", trigger.TypeFollowUp: "follow_up",
		trigger.TypeNegativeFeedback: "alert"}
	for _, typ := range trigger.Types {
		v := map[string]any{"type": string(typ)}
		var required []string
		for _, sub := range root.AllOf {
			if sub.If != nil && len(triggerValidate(root, sub.If, v, "")) == 0 {
				required = append(required, sub.Then.Required...)
			}
		}
		if !slices.Equal(required, []string{detail[typ]}) {
			t.Errorf("%s requires %q, want %q", typ, required, detail[typ])
		}
	}

	b, _ := fs.ReadFile(JSON, "trigger.schema.json")
	var doc any
	json.Unmarshal(b, &doc)
	var walk func(v any, path string, inProperties bool)
	walk = func(v any, path string, inProperties bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, sub := range v {
				if !inProperties && !slices.Contains(keywords, k) {
					t.Errorf("%s: keyword %q is not checked by triggerValidate", path, k)
				}
				walk(sub, path+"/"+k, !inProperties && (k == "properties" || k == "$defs"))
			}
		case []any:
			for i, sub := range v {
				walk(sub, fmt.Sprintf("%s/%d", path, i), false)
			}
		}
	}
	walk(doc, "", false)
}

func enumStrings(enum []any) []string {
	out := make([]string, len(enum))
	for i, e := range enum {
		out[i] = fmt.Sprint(e)
	}
	return out
}
