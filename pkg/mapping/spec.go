package mapping

import (
	"bytes"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Spec is a mapping file as written: which channel it feeds, where its
// records are, and the rules that turn a record into events. See the
// package documentation for the language and schemas/mappings for examples.
type Spec struct {
	// Name is how the mapping is addressed: POST /v1/channels/{name} and
	// `cxstream import -mapping name`.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Channel is the envelope channel of every event the mapping makes.
	Channel string `yaml:"channel"`
	// Records is the dot path of the array of records inside a JSON body
	// (a webhook that wraps its events: "events"); empty when the body is a
	// record or an array of records. NDJSON and CSV input ignore it.
	Records string `yaml:"records"`
	// Skip holds conditions (as in a rule's when) under which a record is
	// deliberately left out and counted as skipped: the kinds of webhook
	// events a mapping has no use for. Any other record that no rule
	// matches is an error and goes to the dead-letter topic.
	Skip map[string]Cond `yaml:"skip"`
	// CSVDelimiter separates CSV columns: "," (the default), ";", "|" or a
	// tab.
	CSVDelimiter string `yaml:"csv_delimiter"`
	// Events are the rules; every rule whose conditions hold makes one
	// event of the record.
	Events []EventSpec `yaml:"events"`
}

// EventSpec is one rule: when it applies and how each envelope field is
// made.
type EventSpec struct {
	// When holds the conditions, all of which must hold; see Cond.
	When map[string]Cond `yaml:"when"`
	// Type is the envelope type; track when empty.
	Type string `yaml:"type"`
	// Name is the event name, a text (a template such as "Ticket {status}",
	// or a value in the long form).
	Name ValueSpec `yaml:"name"`
	// EventID is a text; when empty, the id is derived from the mapping's
	// name, the rule's index and the record's bytes, so that the same record
	// sent or imported again is the same event (and deduplicated).
	EventID ValueSpec `yaml:"event_id"`
	// Time is the event time, a value read as a time; the receive time
	// when empty.
	Time ValueSpec `yaml:"time"`
	// Identifiers of the person; those whose value is missing are left out,
	// and a record with none is rejected.
	Identifiers []IdentifierSpec `yaml:"identifiers"`
	// Traits, TraitsSetOnce and TraitsIncrement are the trait operations;
	// TraitsUnset names traits to remove. Keys with dots make nested
	// objects ("address.city").
	Traits          map[string]ValueSpec `yaml:"traits"`
	TraitsSetOnce   map[string]ValueSpec `yaml:"traits_set_once"`
	TraitsIncrement map[string]ValueSpec `yaml:"traits_increment"`
	TraitsUnset     []string             `yaml:"traits_unset"`
	// Properties and Context are the envelope's properties and context.
	Properties map[string]ValueSpec `yaml:"properties"`
	Context    map[string]ValueSpec `yaml:"context"`
}

// IdentifierSpec is one identifier: its type (a text) and, in the same
// map, its value: {type: email, field: customer.email}.
type IdentifierSpec struct {
	Type  ValueSpec
	Value ValueSpec
}

// UnmarshalYAML splits the map into the type and the value's long form.
func (s *IdentifierSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: an identifier is a map: {type: email, field: customer.email}", n.Line)
	}
	rest := *n
	rest.Content = nil
	var typ *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typ = n.Content[i+1]
			continue
		}
		rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
	}
	if typ == nil {
		return fmt.Errorf("line %d: an identifier needs a type", n.Line)
	}
	if err := typ.Decode(&s.Type); err != nil {
		return err
	}
	return rest.Decode(&s.Value)
}

// ValueSpec says how one value is made from a record. Written as a scalar
// it is a shorthand: a string is a field path where a value is expected
// (properties, traits, identifiers) and a template where a text is
// expected (name, event_id, an identifier's type); a number or a boolean is
// that literal. Written as a map it has the fields below; exactly one of
// field, value and template gives the value.
type ValueSpec struct {
	// Field is the dot path of the value in the record ("customer.email",
	// "items.0.sku"); "." is the whole record.
	Field string `yaml:"field"`
	// Literal is a constant (the YAML key is "value").
	Literal yaml.Node `yaml:"value"`
	// Template is a text with {path} replaced by each field's text; {{ and
	// }} are literal braces.
	Template string `yaml:"template"`
	// Map replaces the value's text by the value it maps to; a text not in
	// the map takes Default, or is an error.
	Map map[string]yaml.Node `yaml:"map"`
	// As converts the value: string, number, integer, boolean, time or json
	// (as it is, the default).
	As string `yaml:"as"`
	// Layout is how a time is written: rfc3339 (the default), unix,
	// unix_ms, or a Go layout such as "2006-01-02 15:04:05".
	Layout string `yaml:"layout"`
	// Zone is the IANA time zone of a layout without an offset; UTC when
	// empty.
	Zone string `yaml:"zone"`
	// MinorUnits reads an integer as an amount in minor units (cents: 2)
	// and makes it a decimal number.
	MinorUnits int `yaml:"minor_units"`
	// Min and Max bound a number (an NPS score: 0 and 10); a number
	// outside is an error.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
	// Transform lists text transformations applied in order: trim, lower,
	// upper, strip_at (drops a leading "@" of a social handle), digits
	// (keeps digits and a leading "+").
	Transform []string `yaml:"transform"`
	// Default is the value when the field is missing, null or empty.
	Default yaml.Node `yaml:"default"`
	// Required makes a missing value (without a default) an error.
	Required bool `yaml:"required"`

	// shorthand is the scalar the value was written as, if it was.
	shorthand *yaml.Node
}

// UnmarshalYAML accepts the scalar shorthand and the long form.
func (v *ValueSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*v = ValueSpec{shorthand: n}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a value is a scalar (a field path, template or literal) or a map with field, value or template", n.Line)
	}
	type plain ValueSpec // without this method
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*v = ValueSpec(p)
	return nil
}

// set reports whether the value was written at all.
func (v *ValueSpec) set() bool {
	return v.shorthand != nil || v.Field != "" || v.Literal.Kind != 0 || v.Template != ""
}

// Cond is one condition of a rule on the field its key names. A scalar
// holds when the field's text equals it; a list, when the text equals one
// of its items; {exists: true|false}, when the field is (not) present and
// not null or empty; {not: scalar or list}, when the text equals none.
type Cond struct {
	in     []string
	not    bool
	exists *bool
}

// UnmarshalYAML reads the three forms of a condition.
func (c *Cond) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		c.in = []string{n.Value}
		return nil
	case yaml.SequenceNode:
		return n.Decode(&c.in)
	case yaml.MappingNode:
		var m struct {
			Exists *bool     `yaml:"exists"`
			Not    yaml.Node `yaml:"not"`
		}
		if err := decodeStrict(n, &m); err != nil {
			return err
		}
		switch {
		case m.Exists != nil && m.Not.Kind == 0:
			c.exists = m.Exists
			return nil
		case m.Exists == nil && m.Not.Kind == yaml.ScalarNode:
			c.in, c.not = []string{m.Not.Value}, true
			return nil
		case m.Exists == nil && m.Not.Kind == yaml.SequenceNode:
			c.not = true
			return m.Not.Decode(&c.in)
		}
	}
	return fmt.Errorf("line %d: a condition is a value, a list of values, {exists: true|false} or {not: value or list}", n.Line)
}

// decodeStrict decodes a node and rejects keys the target does not have,
// so that a misspelt setting is an error and not silently ignored.
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		// The re-encoded node starts at line 1: give the original line.
		return fmt.Errorf("near line %d: %w", n.Line, unwrapYAML(err))
	}
	return nil
}

func unwrapYAML(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return errors.New(te.Errors[0])
	}
	return err
}

// ParseSpec reads a mapping file, rejecting unknown keys.
func ParseSpec(b []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse mapping: %w", unwrapYAML(err))
	}
	return &s, nil
}
