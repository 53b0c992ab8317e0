package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cxstream/cxstream/pkg/event"
)

// The keys of trait operations that Segment, PostHog and Mixpanel users send
// in identify traits and in track, page and screen properties. Each maps onto
// an envelope field:
//
//	$set                object of traits      -> traits (merged)
//	$set_once           object of traits      -> traits_set_once
//	$unset              array of trait names  -> traits_unset
//	$increment, $add    object of numbers     -> traits_increment
//
// A key that is absent or null does nothing. Other "$" keys (Mixpanel's
// $append, $union, $remove) are not operations: they stay plain traits or
// properties.
const (
	keySet       = "$set"
	keySetOnce   = "$set_once"
	keyUnset     = "$unset"
	keyIncrement = "$increment"
	keyAdd       = "$add"
)

var opKeys = [...]string{keySet, keySetOnce, keyUnset, keyIncrement, keyAdd}

// traitOps remembers where a message's trait operations came from, so that
// errors about the envelope fields they became can name the message fields.
type traitOps struct {
	// base is the object that held the operations: "traits" (identify) or
	// "properties" (track, page, screen).
	base string
	// increment is the key ($increment or $add) that each traits_increment
	// entry came from; incrementKey the one that errors about the whole of
	// traits_increment name ($increment unless only $add had entries).
	increment    map[string]string
	incrementKey string
}

// mapTraitOps moves the trait operations of a mapped message onto e: out of
// an identify's traits (which tracking.Map made the envelope's traits, as
// "set"; the operation keys are removed from them), or out of the properties
// of a track, page or screen call (which are left as they are, byte for
// byte). It returns nil when the message has none. Wrong shapes are
// event.Errors naming the message field, such as
// "properties.$increment.points".
func mapTraitOps(e *event.Event) (*traitOps, error) {
	var (
		base  string
		found map[string]json.RawMessage
	)
	pick := func(from map[string]json.RawMessage) {
		for _, k := range opKeys {
			v, ok := from[k]
			if !ok {
				continue
			}
			if e.Type == event.TypeIdentify {
				delete(e.Traits, k)
			}
			if isNull(v) {
				continue
			}
			if found == nil {
				found = make(map[string]json.RawMessage, len(opKeys))
			}
			found[k] = v
		}
	}
	switch e.Type {
	case event.TypeIdentify:
		base = "traits"
		pick(e.Traits)
	case event.TypeTrack, event.TypePage, event.TypeScreen:
		base = "properties"
		if !mayHaveOpKey(e.Properties) {
			return nil, nil
		}
		var props map[string]json.RawMessage
		if json.Unmarshal(e.Properties, &props) != nil {
			return nil, nil // tracking.Map checked that it is an object
		}
		pick(props)
	}
	if len(found) == 0 {
		return nil, nil
	}

	ops := &traitOps{base: base}
	var errs event.Errors
	if set, ok := ops.object(found, keySet, "an object of traits", &errs); ok {
		for _, k := range slices.Sorted(maps.Keys(set)) {
			if _, dup := e.Traits[k]; dup {
				ops.addErr(&errs, keySet+"."+k, "trait is also set by traits."+k)
				continue
			}
			if e.Traits == nil {
				e.Traits = make(map[string]json.RawMessage, len(set))
			}
			e.Traits[k] = set[k]
		}
	}
	if once, ok := ops.object(found, keySetOnce, "an object of traits", &errs); ok && len(once) > 0 {
		e.TraitsSetOnce = once
	}
	if raw, ok := found[keyUnset]; ok {
		var items []json.RawMessage
		if !isArray(raw) || json.Unmarshal(raw, &items) != nil {
			ops.addErr(&errs, keyUnset, "must be an array of trait names (strings)")
		}
		for i, item := range items {
			var name string
			if len(item) == 0 || item[0] != '"' || json.Unmarshal(item, &name) != nil {
				ops.addErr(&errs, keyUnset+"["+strconv.Itoa(i)+"]", "must be a trait name (a string), got JSON "+event.RawKind(item))
				continue
			}
			e.TraitsUnset = append(e.TraitsUnset, name)
		}
	}
	for _, key := range [...]string{keyIncrement, keyAdd} {
		incs, ok := ops.object(found, key, "an object of numbers", &errs)
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(incs)) {
			v := incs[k]
			if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
				ops.addErr(&errs, key+"."+k, "must be a number, got JSON "+event.RawKind(v))
				continue
			}
			if other, dup := ops.increment[k]; dup {
				ops.addErr(&errs, key+"."+k, "trait is also incremented by "+other+"."+k)
				continue
			}
			if e.TraitsIncrement == nil {
				e.TraitsIncrement = make(map[string]json.Number, len(incs))
				ops.increment = make(map[string]string, len(incs))
			}
			e.TraitsIncrement[k] = json.Number(v)
			ops.increment[k] = key
			if ops.incrementKey == "" {
				ops.incrementKey = key
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return ops, nil
}

// object decodes the operation under key as a JSON object; ok is false when
// the operation is absent or (then recording an error) not an object.
func (o *traitOps) object(found map[string]json.RawMessage, key, what string, errs *event.Errors) (map[string]json.RawMessage, bool) {
	raw, ok := found[key]
	if !ok {
		return nil, false
	}
	var m map[string]json.RawMessage
	if !isObject(raw) || json.Unmarshal(raw, &m) != nil {
		o.addErr(errs, key, "must be "+what+", got JSON "+event.RawKind(raw))
		return nil, false
	}
	return m, true
}

func (o *traitOps) addErr(errs *event.Errors, field, reason string) {
	*errs = append(*errs, event.FieldError{Field: o.base + "." + field, Reason: reason})
}

// rename names the fields of the trait operations in err, an error of
// tracking.Prepare, by the message fields they came from:
// "traits_increment.points" -> "properties.$add.points",
// "traits_unset[1]" -> "traits.$unset[1]". An identify's "traits" stays as it
// is (its plain traits and $set both became traits).
func (o *traitOps) rename(err error) error {
	if o == nil || err == nil {
		return err
	}
	var es event.Errors
	if !errors.As(err, &es) {
		return err
	}
	out := make(event.Errors, len(es))
	for i, fe := range es {
		fe.Field = o.field(fe.Field)
		out[i] = fe
	}
	return out
}

func (o *traitOps) field(f string) string {
	name, rest := f, ""
	if i := strings.IndexAny(f, ".["); i >= 0 {
		name, rest = f[:i], f[i:]
	}
	switch name {
	case "traits":
		if o.base == "traits" {
			return f
		}
		return o.base + "." + keySet + rest
	case "traits_set_once":
		return o.base + "." + keySetOnce + rest
	case "traits_unset":
		return o.base + "." + keyUnset + rest
	case "traits_increment":
		key := o.incrementKey
		if k, ok := strings.CutPrefix(rest, "."); ok && o.increment[k] != "" {
			key = o.increment[k]
		}
		if key == "" {
			key = keyIncrement
		}
		return o.base + "." + key + rest
	}
	return f
}

// mayHaveOpKey reports whether a properties object may have an operation
// key: whether it has a "$" at the start of a string, possibly escaped.
// Most properties have none and are not decoded again.
func mayHaveOpKey(raw json.RawMessage) bool {
	return bytes.Contains(raw, []byte(`"$`)) || bytes.Contains(raw, []byte(`"\u0024`))
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func isArray(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '['
}
