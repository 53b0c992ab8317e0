package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // mappings name time zones; containers may lack the system's database

	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pkg/event"
)

// Mapping is a compiled mapping: it reads records and makes envelopes.
// It is safe for concurrent use.
type Mapping struct {
	name, description, channel string
	records                    []string
	skip                       []cond
	delimiter                  rune
	rules                      []*rule
}

// rule is a compiled EventSpec.
type rule struct {
	index    int
	conds    []cond
	typ      event.Type
	name     *expr
	eventID  *expr // nil: derived from the record
	time     *expr // nil: the receive time
	ids      []idExpr
	traits   []output
	setOnce  []output
	incr     []output
	unset    []string
	props    []output
	context  []output
	incrKeys []string
}

type idExpr struct {
	typ, value *expr
}

// output is one key of an object the rule builds (traits, properties,
// context); key is its dot path in that object.
type output struct {
	key  []string
	name string // the key as written
	x    *expr
}

type cond struct {
	path   []string
	in     []string
	not    bool
	exists *bool
}

var (
	namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	// timeSlot is where a rule's event time is compiled: it is read as a
	// time without saying as: time.
	timeSlot = regexp.MustCompile(`^events\[[0-9]+\]\.time$`)
)

// Name is the mapping's name.
func (m *Mapping) Name() string { return m.name }

// Channel is the channel of the mapping's events.
func (m *Mapping) Channel() string { return m.channel }

// Description is the mapping's description.
func (m *Mapping) Description() string { return m.description }

// Compile checks a spec and prepares it for use. Errors name the setting
// (events[1].properties.revenue.as) and say what is allowed.
func Compile(s *Spec) (*Mapping, error) {
	c := &compiler{}
	m := &Mapping{name: s.Name, description: s.Description, channel: s.Channel, delimiter: ','}
	if !namePattern.MatchString(s.Name) {
		c.fail("name", "required: lower-case letters, digits, '_' and '-', starting with a letter")
	}
	if !event.ValidChannel(s.Channel) {
		c.fail("channel", "required, %s", event.ChannelRule)
	}
	if s.Records != "" {
		m.records = splitPath(s.Records)
	}
	m.skip = conds(s.Skip)
	switch s.CSVDelimiter {
	case "", ",":
	case ";", "\t", "|":
		m.delimiter = rune(s.CSVDelimiter[0])
	default:
		c.fail("csv_delimiter", "must be one of , ; | or a tab, got %q", s.CSVDelimiter)
	}
	if len(s.Events) == 0 {
		c.fail("events", "name at least one rule")
	}
	for i := range s.Events {
		m.rules = append(m.rules, c.rule(i, &s.Events[i]))
	}
	if len(c.errs) > 0 {
		return nil, fmt.Errorf("mapping %q: %w", s.Name, errors.Join(c.errs...))
	}
	return m, nil
}

// Parse reads and compiles a mapping file.
func Parse(b []byte) (*Mapping, error) {
	s, err := ParseSpec(b)
	if err != nil {
		return nil, err
	}
	return Compile(s)
}

type compiler struct {
	errs []error
}

func (c *compiler) fail(where, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
}

func (c *compiler) rule(i int, s *EventSpec) *rule {
	at := fmt.Sprintf("events[%d]", i)
	r := &rule{index: i, typ: event.Type(s.Type), unset: s.TraitsUnset}
	if r.typ == "" {
		r.typ = event.TypeTrack
	}
	if !r.typ.Known() {
		c.fail(at+".type", "must be one of track, identify, page, screen, alias, group, got %q", s.Type)
	}
	r.conds = conds(s.When)
	if s.Name.set() {
		r.name = c.expr(at+".name", &s.Name, true)
	} else if r.typ == event.TypeTrack {
		c.fail(at+".name", "required for track events")
	}
	if s.EventID.set() {
		r.eventID = c.expr(at+".event_id", &s.EventID, true)
	}
	if s.Time.set() {
		r.time = c.expr(at+".time", &s.Time, false)
		if r.time != nil && r.time.as == "" {
			r.time.as = "time"
		}
		if r.time != nil && r.time.as != "time" {
			c.fail(at+".time.as", "must be time (or left out)")
		}
	}
	if len(s.Identifiers) == 0 {
		c.fail(at+".identifiers", "name at least one identifier")
	}
	for j := range s.Identifiers {
		id := &s.Identifiers[j]
		where := fmt.Sprintf("%s.identifiers[%d]", at, j)
		typ := c.expr(where+".type", &id.Type, true)
		if typ != nil && typ.kind == fromLiteral {
			if s, ok := typ.literal.(string); !ok || !event.ValidIdentifierType(s) {
				c.fail(where+".type", "%v is not an identifier type (lower-case letters, digits and _)", typ.literal)
			}
		}
		if !id.Value.set() {
			c.fail(where, "needs field, template or value")
			continue
		}
		r.ids = append(r.ids, idExpr{typ: typ, value: c.expr(where, &id.Value, false)})
	}
	r.traits = c.outputs(at+".traits", s.Traits)
	r.setOnce = c.outputs(at+".traits_set_once", s.TraitsSetOnce)
	r.incr = c.outputs(at+".traits_increment", s.TraitsIncrement)
	for _, o := range r.incr {
		if len(o.key) != 1 {
			c.fail(at+".traits_increment."+o.name, "an incremented trait is a top-level trait: no dots")
		}
		if o.x != nil && o.x.as == "" {
			o.x.as = "number"
		}
		if o.x != nil && o.x.as != "number" && o.x.as != "integer" {
			c.fail(at+".traits_increment."+o.name+".as", "must be number or integer")
		}
	}
	for _, u := range r.unset {
		if u == "" {
			c.fail(at+".traits_unset", "trait names must not be empty")
		}
	}
	r.props = c.outputs(at+".properties", s.Properties)
	r.context = c.outputs(at+".context", s.Context)
	return r
}

func (c *compiler) outputs(at string, specs map[string]ValueSpec) []output {
	var out []output
	for _, k := range slices.Sorted(maps.Keys(specs)) {
		spec := specs[k]
		key := splitPath(k)
		if slices.Contains(key, "") {
			c.fail(at+"."+k, "a key must not be empty or have empty parts")
			continue
		}
		out = append(out, output{key: key, name: k, x: c.expr(at+"."+k, &spec, false)})
	}
	return out
}

// conds compiles conditions, in the order of their paths.
func conds(when map[string]Cond) []cond {
	var out []cond
	for _, path := range slices.Sorted(maps.Keys(when)) {
		w := when[path]
		out = append(out, cond{path: splitPath(path), in: w.in, not: w.not, exists: w.exists})
	}
	return out
}

// expr compiles a value; isText says how a string shorthand reads (a
// template, or a field path).
func (c *compiler) expr(at string, s *ValueSpec, isText bool) *expr {
	x := &expr{as: s.As, layout: s.Layout, minor: s.MinorUnits, required: s.Required, min: s.Min, max: s.Max}
	if n := s.shorthand; n != nil {
		switch {
		case n.Tag == "!!str" && isText:
			c.template(at, x, n.Value)
		case n.Tag == "!!str":
			x.kind, x.src, x.path = fromField, n.Value, splitPath(n.Value)
		default:
			x.kind, x.src = fromLiteral, "value"
			x.literal = c.literal(at, n)
		}
		return x
	}
	given := 0
	if s.Field != "" {
		given++
		x.kind, x.src, x.path = fromField, s.Field, splitPath(s.Field)
	}
	if s.Literal.Kind != 0 {
		given++
		x.kind, x.src = fromLiteral, "value"
		x.literal = c.literal(at+".value", &s.Literal)
	}
	if s.Template != "" {
		given++
		c.template(at+".template", x, s.Template)
	}
	switch {
	case given == 0 && !s.Required && s.Default.Kind == 0 && s.Map == nil && s.As == "":
		c.fail(at, "empty: give a field path, a template, or {value: ...}")
	case given != 1:
		c.fail(at, "give exactly one of field, value and template")
	}
	if s.Map != nil {
		x.mapping = make(map[string]any, len(s.Map))
		for k, n := range s.Map {
			x.mapping[k] = c.literal(at+".map."+k, &n)
		}
	}
	if s.Default.Kind != 0 {
		x.hasDefault, x.def = true, c.literal(at+".default", &s.Default)
	}
	for _, name := range s.Transform {
		t, ok := transforms[name]
		if !ok {
			c.fail(at+".transform", "unknown transform %q (trim, lower, upper, strip_at, digits)", name)
			continue
		}
		x.transforms = append(x.transforms, t)
	}
	switch x.as {
	case "", "json", "string", "number", "integer", "boolean", "time":
	default:
		c.fail(at+".as", "must be string, number, integer, boolean, time or json, got %q", x.as)
	}
	if x.minor < 0 || x.minor > 9 || (x.minor > 0 && x.as != "number") {
		c.fail(at+".minor_units", "must be 0 to 9, with as: number")
	}
	if (x.min != nil || x.max != nil) && x.as != "number" && x.as != "integer" {
		c.fail(at+".min", "min and max apply to as: number or integer")
	}
	if (x.layout != "" || s.Zone != "") && x.as != "time" && !timeSlot.MatchString(at) {
		c.fail(at+".layout", "layout and zone apply to as: time")
	}
	if s.Zone != "" && (x.layout == "" || x.layout == "rfc3339" || x.layout == "unix" || x.layout == "unix_ms") {
		c.fail(at+".zone", "a zone applies to a Go layout without an offset (rfc3339 times carry their offset, Unix times are UTC)")
	}
	x.loc = time.UTC
	if s.Zone != "" {
		loc, err := time.LoadLocation(s.Zone)
		if err != nil {
			c.fail(at+".zone", "unknown time zone %q (an IANA name such as Europe/Berlin)", s.Zone)
		} else {
			x.loc = loc
		}
	}
	if x.layout != "" && x.layout != "rfc3339" && x.layout != "unix" && x.layout != "unix_ms" && !strings.ContainsAny(x.layout, "0123456789") {
		c.fail(at+".layout", "must be rfc3339, unix, unix_ms or a Go layout such as \"2006-01-02 15:04:05\"")
	}
	if x.kind == fromLiteral && x.as != "" && x.as != "json" {
		// Check a literal's conversion once, here.
		if _, err := x.convert(x.literal); err != nil {
			c.fail(at, "%v", err)
		}
	}
	return x
}

// template compiles "text {path} text"; {{ and }} are braces.
func (c *compiler) template(at string, x *expr, s string) {
	x.kind, x.src = fromTemplate, s
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"), strings.HasPrefix(s[i:], "}}"):
			lit.WriteByte(s[i])
			i++
		case s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				c.fail(at, "unclosed { in template %q", s)
				return
			}
			path := strings.TrimSpace(s[i+1 : i+end])
			if path == "" {
				c.fail(at, "empty {} in template %q", s)
				return
			}
			if lit.Len() > 0 {
				x.template = append(x.template, tmplPart{text: lit.String()})
				lit.Reset()
			}
			x.template = append(x.template, tmplPart{path: splitPath(path), src: path})
			i += end
		case s[i] == '}':
			c.fail(at, "unmatched } in template %q (write }} for a brace)", s)
			return
		default:
			lit.WriteByte(s[i])
		}
	}
	if lit.Len() > 0 {
		x.template = append(x.template, tmplPart{text: lit.String()})
	}
	if len(x.template) == 1 && x.template[0].path == nil {
		// A template without fields is a constant.
		x.kind, x.literal, x.src = fromLiteral, x.template[0].text, "value"
	}
}

// literal turns a YAML value into the JSON value it stands for.
func (c *compiler) literal(at string, n *yaml.Node) any {
	var v any
	if err := n.Decode(&v); err != nil {
		c.fail(at, "%v", err)
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		c.fail(at, "not representable in JSON: %v", err)
		return nil
	}
	return decodeJSON(b)
}

// splitPath splits a dot path; "." is the whole record (no steps).
func splitPath(p string) []string {
	p = strings.TrimSpace(p)
	if p == "." {
		return []string{}
	}
	return strings.Split(p, ".")
}
