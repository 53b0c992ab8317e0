package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is one segment as written in the configuration. See the package
// documentation for the language.
type Spec struct {
	// Name identifies the segment in the profile's segments and in
	// segment.entered / segment.exited messages: [a-z0-9_]+, unique.
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Purpose is the consent purpose (a key of psychographic.consent) that
	// acting on the segment needs; empty when none is needed.
	Purpose string `yaml:"purpose,omitempty"`
	// When is the condition a member's profile satisfies.
	When Cond `yaml:"when"`
}

// Cond is a condition: either a combinator (exactly one of All, Any and
// Not) or a test of one field (Field and exactly one operator).
//
// Literals are YAML scalars: numbers, texts and booleans. A text in
// RFC 3339 (2026-03-01T00:00:00Z) is also a time; an unquoted YAML date
// stays the text it was written as.
type Cond struct {
	All []Cond `yaml:"all,omitempty"`
	Any []Cond `yaml:"any,omitempty"`
	Not *Cond  `yaml:"not,omitempty"`

	// Field is a dotted path into the profile's JSON form.
	Field string `yaml:"field,omitempty"`

	Eq  any   `yaml:"eq,omitempty"`
	Ne  any   `yaml:"ne,omitempty"`
	In  []any `yaml:"in,omitempty"`
	Gt  any   `yaml:"gt,omitempty"`
	Gte any   `yaml:"gte,omitempty"`
	Lt  any   `yaml:"lt,omitempty"`
	Lte any   `yaml:"lte,omitempty"`
	// Exists tests whether the field is present and not null.
	Exists *bool `yaml:"exists,omitempty"`
	// Contains tests whether an array field has an element equal to it.
	Contains any `yaml:"contains,omitempty"`
	// Within and OlderThan are durations: Go's (720h, 90m) or days (30d,
	// 1d12h).
	Within    string `yaml:"within,omitempty"`
	OlderThan string `yaml:"older_than,omitempty"`
}

// condKeys are the keys a condition may have, in the order of the
// documentation; literalKeys take literal values.
var (
	condKeys    = []string{"all", "any", "not", "field", "eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "contains", "within", "older_than"}
	literalKeys = []string{"eq", "ne", "in", "gt", "gte", "lt", "lte", "contains"}
)

// UnmarshalYAML reads a condition, rejecting unknown keys and null
// literals, and keeping unquoted YAML timestamps as the text written.
func (c *Cond) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a condition is a map: {field: derived.lifecycle, eq: at_risk}, {all: [...]}, {any: [...]} or {not: {...}}", n.Line)
	}
	m := *n
	m.Content = slices.Clone(n.Content)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !slices.Contains(condKeys, k.Value) {
			return fmt.Errorf("line %d: unknown key %q in a condition (known: %s)", k.Line, k.Value, strings.Join(condKeys, ", "))
		}
		if !slices.Contains(literalKeys, k.Value) {
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return fmt.Errorf("line %d: %s: null is not a value (to test a missing field, write exists: false)", k.Line, k.Value)
		}
		m.Content[i+1] = timestampsAsText(v)
	}
	type plain Cond // without this method
	var p plain
	if err := m.Decode(&p); err != nil {
		return unwrapYAML(err)
	}
	*c = Cond(p)
	return nil
}

// timestampsAsText returns n with its timestamp scalars (and those of a
// sequence) tagged as texts, so that they decode as written: a date stays
// "2026-03-01" and is not taken for midnight UTC.
func timestampsAsText(n *yaml.Node) *yaml.Node {
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!timestamp":
		c := *n
		c.Tag = "!!str"
		return &c
	case n.Kind == yaml.SequenceNode:
		c := *n
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, item := range n.Content {
			c.Content[i] = timestampsAsText(item)
		}
		return &c
	}
	return n
}

// Parse reads a YAML document whose only key is segments, a list of
// segments, rejecting unknown keys, and compiles it. An empty document is
// an empty set.
func Parse(b []byte) (*Set, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var doc struct {
		Segments []Spec `yaml:"segments"`
	}
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse segments: %w", unwrapYAML(err))
	}
	return Compile(doc.Segments)
}

func unwrapYAML(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return errors.New(te.Errors[0])
	}
	return err
}
