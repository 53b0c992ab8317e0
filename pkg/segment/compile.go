package segment

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Set is a compiled list of segments, sorted by name. It is immutable and
// safe for concurrent use.
type Set struct {
	segments []*Segment
}

// Segment is one compiled segment.
type Segment struct {
	name, description, purpose string
	when                       node
	clocks                     []*node // its within and older_than conditions
}

// Name is the segment's name.
func (g *Segment) Name() string { return g.name }

// Description is the segment's description.
func (g *Segment) Description() string { return g.description }

// Purpose is the consent purpose acting on the segment needs; empty when
// none is needed.
func (g *Segment) Purpose() string { return g.purpose }

// Error is a problem with one segment's definition.
type Error struct {
	// Segment is the segment's name, or segments[i] when it has none.
	Segment string
	// Cond is where in the segment the problem is: "when.all[1].not", or
	// a key of the segment ("name", "purpose").
	Cond string
	// Field is the condition's field, if it names one.
	Field string
	// Reason says what is wrong and how to write it instead.
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "segment %s", e.Segment)
	if e.Cond != "" {
		fmt.Fprintf(&b, ", %s", e.Cond)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ", field %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", e.Reason)
	return b.String()
}

var namePattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// maxDepth bounds the nesting of conditions.
const maxDepth = 32

// Compile checks segments and prepares them for evaluation. The error
// joins an *Error for every problem found.
func Compile(specs []Spec) (*Set, error) {
	var errs []error
	s := &Set{}
	seen := map[string]bool{}
	for i := range specs {
		spec := &specs[i]
		c := &compiler{segment: fmt.Sprintf("segments[%d]", i)}
		if namePattern.MatchString(spec.Name) {
			c.segment = fmt.Sprintf("%q", spec.Name)
		}
		switch {
		case !namePattern.MatchString(spec.Name):
			c.fail("name", "", "%q: required, 1 to 64 of a-z, 0-9 and _", spec.Name)
		case seen[spec.Name]:
			c.fail("name", "", "a second segment of this name")
		}
		seen[spec.Name] = true
		if spec.Purpose != strings.TrimSpace(spec.Purpose) || strings.ContainsAny(spec.Purpose, ".\n") {
			c.fail("purpose", "", "%q: a consent purpose as psychographic.consent names it, without spaces around or dots", spec.Purpose)
		}
		g := &Segment{name: spec.Name, description: spec.Description, purpose: spec.Purpose}
		g.when = c.cond("when", &spec.When, 0)
		g.clocks = g.when.clocks(nil)
		errs = append(errs, c.errs...)
		s.segments = append(s.segments, g)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(s.segments, func(a, b *Segment) int { return strings.Compare(a.name, b.name) })
	return s, nil
}

// Validate reports the problems Compile would.
func Validate(specs []Spec) error {
	_, err := Compile(specs)
	return err
}

// Names lists the segments' names in order.
func (s *Set) Names() []string {
	names := make([]string, len(s.segments))
	for i, g := range s.segments {
		names[i] = g.name
	}
	return names
}

// Get returns the segment of a name.
func (s *Set) Get(name string) (*Segment, bool) {
	i, ok := slices.BinarySearchFunc(s.segments, name, func(g *Segment, name string) int { return strings.Compare(g.name, name) })
	if !ok {
		return nil, false
	}
	return s.segments[i], true
}

// Len is the number of segments.
func (s *Set) Len() int { return len(s.segments) }

type compiler struct {
	segment string
	errs    []error
}

func (c *compiler) fail(where, field, format string, args ...any) {
	c.errs = append(c.errs, &Error{Segment: c.segment, Cond: where, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// op is a node's operation: a combinator or an operator.
type op uint8

const (
	opAll op = iota
	opAny
	opNot
	opEq
	opNe
	opIn
	opGt
	opGte
	opLt
	opLte
	opExists
	opContains
	opWithin
	opOlderThan
)

// node is a compiled condition.
type node struct {
	op     op
	kids   []node    // all, any, not
	field  *accessor // operators
	lits   []literal // one, or in's list
	exists bool
	d      time.Duration
	dText  string // d as written
}

// clocks appends the within and older_than conditions of a condition.
func (n *node) clocks(dst []*node) []*node {
	if n.op == opWithin || n.op == opOlderThan {
		return append(dst, n)
	}
	for i := range n.kids {
		dst = n.kids[i].clocks(dst)
	}
	return dst
}

// operator is one operator of a condition as written.
type operator struct {
	name  string
	op    op
	given bool
}

func (c *compiler) cond(at string, s *Cond, depth int) node {
	if depth > maxDepth {
		c.fail(at, s.Field, "conditions nest more than %d deep", maxDepth)
		return node{op: opAll}
	}
	ops := []operator{
		{"eq", opEq, s.Eq != nil}, {"ne", opNe, s.Ne != nil}, {"in", opIn, s.In != nil},
		{"gt", opGt, s.Gt != nil}, {"gte", opGte, s.Gte != nil}, {"lt", opLt, s.Lt != nil}, {"lte", opLte, s.Lte != nil},
		{"exists", opExists, s.Exists != nil}, {"contains", opContains, s.Contains != nil},
		{"within", opWithin, s.Within != ""}, {"older_than", opOlderThan, s.OlderThan != ""},
		{"all", opAll, s.All != nil}, {"any", opAny, s.Any != nil}, {"not", opNot, s.Not != nil},
	}
	var given []string
	var o operator
	for _, x := range ops {
		if x.given {
			given = append(given, x.name)
			o = x
		}
	}
	switch {
	case len(given) == 0 && s.Field == "":
		c.fail(at, "", "empty: give {field: ..., <operator>: ...}, all, any or not")
		return node{op: opAll}
	case len(given) == 0:
		c.fail(at, s.Field, "no operator: give one of eq, ne, in, gt, gte, lt, lte, exists, contains, within, older_than")
		return node{op: opAll}
	case len(given) > 1:
		c.fail(at, s.Field, "give exactly one operator or combinator, got %s", strings.Join(given, " and "))
		return node{op: opAll}
	}
	switch o.op {
	case opAll, opAny:
		if s.Field != "" {
			c.fail(at, s.Field, "%s combines conditions and takes no field: put the field in each of its conditions", o.name)
		}
		list := s.All
		if o.op == opAny {
			list = s.Any
		}
		if len(list) == 0 {
			c.fail(at+"."+o.name, "", "give at least one condition")
		}
		n := node{op: o.op, kids: make([]node, len(list))}
		for i := range list {
			n.kids[i] = c.cond(fmt.Sprintf("%s.%s[%d]", at, o.name, i), &list[i], depth+1)
		}
		return n
	case opNot:
		if s.Field != "" {
			c.fail(at, s.Field, "not negates a condition and takes no field: write not: {field: ..., <operator>: ...}")
		}
		return node{op: opNot, kids: []node{c.cond(at+".not", s.Not, depth+1)}}
	}
	if s.Field == "" {
		c.fail(at, "", "%s needs a field", o.name)
		return node{op: opAll}
	}
	a, err := resolve(s.Field)
	if err != nil {
		c.fail(at, s.Field, "%v", err)
		return node{op: opAll}
	}
	n := node{op: o.op, field: a}
	bad := func(format string, args ...any) node {
		c.fail(at, s.Field, "%s: %s", o.name, fmt.Sprintf(format, args...))
		return node{op: opAll}
	}
	lit := func(x any) (literal, bool) {
		l, err := newLiteral(x)
		if err != nil {
			bad("%v", err)
			return l, false
		}
		return l, true
	}
	switch o.op {
	case opExists:
		n.exists = *s.Exists
	case opEq, opNe, opContains:
		x := map[op]any{opEq: s.Eq, opNe: s.Ne, opContains: s.Contains}[o.op]
		l, ok := lit(x)
		if !ok {
			return node{op: opAll}
		}
		if o.op == opContains && a.typ != typeArray && a.typ != typeAny {
			return bad("%s is %s, not an array", a.path, a.typ)
		}
		if o.op != opContains {
			if msg := canEqual(a, l); msg != "" {
				return bad("%s", msg)
			}
		}
		n.lits = []literal{l}
	case opIn:
		if len(s.In) == 0 {
			return bad("give a list of at least one value")
		}
		for _, x := range s.In {
			l, ok := lit(x)
			if !ok {
				return node{op: opAll}
			}
			if msg := canEqual(a, l); msg != "" {
				return bad("%s", msg)
			}
			n.lits = append(n.lits, l)
		}
	case opGt, opGte, opLt, opLte:
		x := map[op]any{opGt: s.Gt, opGte: s.Gte, opLt: s.Lt, opLte: s.Lte}[o.op]
		l, ok := lit(x)
		if !ok {
			return node{op: opAll}
		}
		switch {
		case l.kind != kindNumber && !l.isTime:
			return bad("%s is not a number or an RFC 3339 time (2026-03-01T00:00:00Z)", l)
		case l.kind == kindNumber && a.typ != typeNumber && a.typ != typeAny:
			return bad("compares numbers, but %s is %s", a.path, a.typ)
		case l.isTime && a.typ != typeTime && a.typ != typeAny:
			return bad("compares times, but %s is %s", a.path, a.typ)
		}
		n.lits = []literal{l}
	case opWithin, opOlderThan:
		text := s.Within
		if o.op == opOlderThan {
			text = s.OlderThan
		}
		d, err := parseDuration(text)
		if err != nil {
			return bad("%v", err)
		}
		if a.typ != typeTime && a.typ != typeAny {
			return bad("needs a time, but %s is %s", a.path, a.typ)
		}
		n.d, n.dText = d, text
	}
	return n
}

// canEqual says why a field can never equal a literal, or "".
func canEqual(a *accessor, l literal) string {
	switch {
	case a.typ == typeAny || a.typ == l.typ():
		return ""
	case a.typ == typeText && l.typ() == typeTime:
		return "" // a text in RFC 3339
	case a.typ == typeArray:
		return fmt.Sprintf("%s is an array: test its elements with contains", a.path)
	case a.typ == typeObject:
		return fmt.Sprintf("%s is an object: test one of its fields, or exists", a.path)
	case a.typ == typeTime:
		return fmt.Sprintf("%s is a time, and %s is not an RFC 3339 time (2026-03-01T00:00:00Z)", a.path, l)
	}
	return fmt.Sprintf("%s is %s, and %s is %s", a.path, a.typ, l, l.typ())
}
