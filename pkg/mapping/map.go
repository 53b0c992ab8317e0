package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
)

// idNamespace is the UUID namespace of derived event ids.
var idNamespace = uuid.MustParse("5b0f6f2c-6a0e-4c55-9f0e-3c1d7c2b9a41")

// Mapped is one event made from a record, with what Prepare needs to name
// the record's fields in the envelope's errors.
type Mapped struct {
	Event *event.Event
	rule  *rule
	// idSources and idTypeSources are where the values and the types of
	// Event.Identifiers came from, in order.
	idSources, idTypeSources []string
}

// Map makes the events of one record for a tenant; now is the receive
// time. A record the mapping skips gives no events and no error; one that
// no rule matches is an error. Errors are event.Errors naming the record's
// fields. The events are not yet validated: call Prepare on each.
func (m *Mapping) Map(rec Record, tenant string, now time.Time) ([]Mapped, error) {
	if len(m.skip) > 0 && allHold(m.skip, rec.data) {
		return nil, nil
	}
	var (
		out  []Mapped
		errs event.Errors
	)
	for _, r := range m.rules {
		if !allHold(r.conds, rec.data) {
			continue
		}
		mp, es := m.build(r, rec, tenant, now)
		errs = append(errs, es...)
		if len(es) == 0 {
			out = append(out, mp)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(out) == 0 {
		return nil, m.unmatched(rec.data)
	}
	return out, nil
}

// unmatched explains why no rule took a record: the values of the fields
// the rules look at, and what they look for.
func (m *Mapping) unmatched(data any) event.Errors {
	var (
		fields []string
		seen   = map[string]bool{}
		rules  []string
	)
	for _, r := range m.rules {
		var cs []string
		for _, c := range r.conds {
			p := strings.Join(c.path, ".")
			cs = append(cs, c.String())
			if !seen[p] {
				seen[p] = true
				fields = append(fields, p)
			}
		}
		rules = append(rules, strings.Join(cs, " and "))
	}
	slices.Sort(rules)
	var have []string
	for _, p := range fields {
		v := lookup(data, splitPath(p))
		s, err := text(v)
		switch {
		case missing(v):
			have = append(have, p+" is missing")
		case err != nil:
			have = append(have, p+" "+err.Error())
		default:
			have = append(have, p+" is "+quoteCut(s))
		}
	}
	return event.Errors{{Field: strings.Join(fields, ", "), Reason: fmt.Sprintf("no rule of mapping %s takes the record: %s; the rules need %s",
		m.name, strings.Join(have, ", "), strings.Join(slices.Compact(rules), ", or "))}}
}

func (c cond) String() string {
	p := strings.Join(c.path, ".")
	switch {
	case c.exists != nil && *c.exists:
		return p + " present"
	case c.exists != nil:
		return p + " absent"
	case c.not:
		return p + " not in [" + strings.Join(c.in, ", ") + "]"
	case len(c.in) == 1:
		return p + " = " + c.in[0]
	}
	return p + " in [" + strings.Join(c.in, ", ") + "]"
}

// allHold reports whether every condition holds for the record.
func allHold(conds []cond, data any) bool {
	for _, c := range conds {
		v := lookup(data, c.path)
		if c.exists != nil {
			if missing(v) == *c.exists {
				return false
			}
			continue
		}
		s, err := text(v)
		if err != nil {
			return false
		}
		if slices.Contains(c.in, s) == c.not {
			return false
		}
	}
	return true
}

// build makes one rule's event of a record.
func (m *Mapping) build(r *rule, rec Record, tenant string, now time.Time) (Mapped, event.Errors) {
	var errs event.Errors
	fail := func(err error, target string) {
		var ve *valueError
		if errors.As(err, &ve) {
			errs = append(errs, event.FieldError{Field: ve.field, Reason: ve.reason + " (for " + target + ")"})
			return
		}
		errs = append(errs, event.FieldError{Field: target, Reason: err.Error()})
	}
	e := &event.Event{Tenant: tenant, Channel: m.channel, Type: r.typ, ReceivedAt: now, EventTime: now}
	mp := Mapped{Event: e, rule: r}

	if r.eventID != nil {
		id, ok, err := r.eventID.text(rec.data)
		switch {
		case err != nil:
			fail(err, "event_id")
		case !ok:
			errs = append(errs, event.FieldError{Field: r.eventID.src, Reason: "required but missing (for event_id)"})
		}
		e.EventID = id
	} else {
		e.EventID = m.derivedID(r, rec)
	}
	if r.name != nil {
		name, _, err := r.name.text(rec.data)
		if err != nil {
			fail(err, "name")
		}
		e.Name = name
	}
	if r.time != nil {
		v, ok, err := r.time.eval(rec.data)
		switch {
		case err != nil:
			fail(err, "event_time")
		case !ok:
			errs = append(errs, event.FieldError{Field: r.time.src, Reason: "required but missing (for event_time)"})
		default:
			e.EventTime = v.(time.Time)
		}
	}
	for _, id := range r.ids {
		value, ok, err := id.value.text(rec.data)
		if err != nil {
			fail(err, "identifiers")
			continue
		}
		if !ok {
			continue
		}
		typ, ok, err := id.typ.text(rec.data)
		if err != nil || !ok {
			if err == nil {
				err = &valueError{field: id.typ.src, reason: "required but missing"}
			}
			fail(err, "identifiers.type")
			continue
		}
		e.Identifiers = append(e.Identifiers, event.Identifier{Type: typ, Value: value})
		mp.idSources = append(mp.idSources, id.value.src)
		mp.idTypeSources = append(mp.idTypeSources, id.typ.src)
	}
	if len(e.Identifiers) == 0 && len(errs) == 0 {
		var names []string
		for _, id := range r.ids {
			names = append(names, id.value.src)
		}
		errs = append(errs, event.FieldError{Field: strings.Join(names, ", "),
			Reason: "the record has none of these identifiers; at least one is required"})
	}

	objects := []struct {
		outs   []output
		target string
		set    func(map[string]any)
	}{
		{r.traits, "traits", func(o map[string]any) { e.Traits = rawFields(o) }},
		{r.setOnce, "traits_set_once", func(o map[string]any) { e.TraitsSetOnce = rawFields(o) }},
		{r.props, "properties", func(o map[string]any) { e.Properties = marshal(o) }},
		{r.context, "context", func(o map[string]any) { e.Context = marshal(o) }},
	}
	for _, obj := range objects {
		o := map[string]any{}
		for _, out := range obj.outs {
			v, ok, err := out.x.eval(rec.data)
			if err != nil {
				fail(err, obj.target+"."+out.name)
				continue
			}
			if ok {
				setPath(o, out.key, v)
			}
		}
		if len(o) > 0 {
			obj.set(o)
		}
	}
	for _, out := range r.incr {
		v, ok, err := out.x.eval(rec.data)
		if err != nil {
			fail(err, "traits_increment."+out.name)
			continue
		}
		if ok {
			if e.TraitsIncrement == nil {
				e.TraitsIncrement = map[string]json.Number{}
			}
			e.TraitsIncrement[out.name] = v.(json.Number)
		}
	}
	e.TraitsUnset = slices.Clone(r.unset)
	return mp, errs
}

// derivedID is the event id of a rule without event_id: a UUID of the
// mapping, the rule and the record's content (not its formatting), so that
// a record sent or imported again is recognised as the same event.
func (m *Mapping) derivedID(r *rule, rec Record) string {
	canon, err := json.Marshal(rec.data) // map keys sorted: formatting-independent
	if err != nil {
		canon = rec.Raw
	}
	var b bytes.Buffer
	b.WriteString(m.name)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(r.index))
	b.WriteByte(0)
	b.Write(canon)
	return uuid.NewSHA1(idNamespace, b.Bytes()).String()
}

// setPath sets o[key[0]][key[1]]... = v, making objects on the way; a
// value already there that is not an object is replaced.
func setPath(o map[string]any, key []string, v any) {
	for _, k := range key[:len(key)-1] {
		next, ok := o[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			o[k] = next
		}
		o = next
	}
	o[key[len(key)-1]] = v
}

func rawFields(o map[string]any) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(o))
	for k, v := range o {
		out[k] = marshal(v)
	}
	return out
}

// marshal encodes a value made from JSON, YAML literals and times, which
// always encode. Unlike encoding/json's default, it leaves <, > and & as
// they are.
func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("mapping: marshal %v: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Prepare normalises and validates the event under lim with event.Prepare
// (the judgement every cxstream stage applies) and names, in its errors,
// the record fields the envelope fields came from.
func (mp Mapped) Prepare(lim event.Limits) error {
	err := event.Prepare(mp.Event, lim)
	var es event.Errors
	if !errors.As(err, &es) {
		return err
	}
	out := make(event.Errors, len(es))
	for i, fe := range es {
		if src := mp.source(fe.Field); src != "" && src != fe.Field {
			fe.Reason += " (for " + fe.Field + ")"
			fe.Field = src
		}
		out[i] = fe
	}
	return out
}

// IdentifierFields names the record fields the event's identifiers came
// from, for an error about all of them.
func (mp Mapped) IdentifierFields() string { return strings.Join(mp.idSources, ", ") }

// source names the record field an envelope field came from, or "".
func (mp Mapped) source(field string) string {
	r := mp.rule
	switch field {
	case "identifiers":
		return mp.IdentifierFields()
	case "event_id":
		if r.eventID != nil {
			return r.eventID.src
		}
	case "event_time":
		if r.time != nil {
			return r.time.src
		}
	case "name":
		if r.name != nil {
			return r.name.src
		}
	}
	if rest, ok := strings.CutPrefix(field, "identifiers["); ok {
		n, part, _ := strings.Cut(rest, "]")
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < len(mp.idSources) {
			if part == ".type" {
				return mp.idTypeSources[i]
			}
			return mp.idSources[i]
		}
	}
	if k, ok := strings.CutPrefix(field, "traits_increment."); ok {
		for _, o := range r.incr {
			if o.name == k {
				return o.x.src
			}
		}
	}
	return ""
}
