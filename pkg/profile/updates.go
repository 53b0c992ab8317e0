package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/sentiment"
)

// Updates returns the field updates that fold e into a profile. Identifier
// fields are not included: which identifiers join the profile is decided
// during resolution. Values the model cannot use (an NPS outside 0..10, an
// order amount that is not a number) are left out of the profile; the event
// itself is kept whole in the timeline.
func (m *Model) Updates(e *event.Event) []Update {
	ms := e.EventTime.UnixMilli()
	msText := strconv.FormatInt(ms, 10)
	stamp := Stamp(e)
	stamped := newStamper(stamp, e).value
	props := objectOf(e.Properties)
	ctx := objectOf(e.Context)
	u := make([]Update, 0, 8+len(e.Traits)+len(e.TraitsSetOnce)+len(e.TraitsUnset)+2*len(e.TraitsIncrement))
	add := func(f, v string) { u = append(u, Update{f, v}) }

	// Behavioural.
	add(FieldEvents, "1")
	add(channelPrefix+e.Channel, "1")
	add(typePrefix+string(e.Type), "1")
	add(FieldFirstSeen, msText)
	add(FieldLastSeen, msText)
	add(FieldLastChannel, stamped([]byte(strconv.Quote(e.Channel))))
	if e.Type == event.TypeTrack || e.Type == event.TypePage || e.Type == event.TypeScreen {
		name, _ := json.Marshal(e.Name)
		add(FieldLastEvent, stamped(name))
	}
	add(sessionPrefix+m.session(e, props, ctx), msText)

	// Demographic data from the context.
	if _, ok := stringOf(ctx["locale"]); ok {
		add(fieldLocale, stamped(ctx["locale"]))
	}
	loc := objectOf(ctx["location"])
	if _, ok := stringOf(loc["country"]); ok {
		add(fieldCountry, stamped(loc["country"]))
	}
	if _, ok := stringOf(loc["city"]); ok {
		add(fieldCity, stamped(loc["city"]))
	}
	// Consent, as Segment's consent management sends it in the context and
	// as a "consent" trait; the trait wins for a purpose both name.
	purposes := objectOf(objectOf(ctx["consent"])["categoryPreferences"])
	if c, ok := e.Traits["consent"]; ok && isObject(c) {
		if purposes == nil {
			purposes = map[string]json.RawMessage{}
		}
		maps.Copy(purposes, objectOf(c))
	}
	for _, p := range sortedKeysOf(purposes) {
		if b := trimSpace(purposes[p]); isBool(b) {
			add(consentPrefix+p, stamped(b))
		}
	}

	// Traits, by operation.
	for _, k := range sortedKeysOf(e.Traits) {
		v := e.Traits[k]
		switch {
		case k == "preferences" && isObject(v):
			prefs := objectOf(v)
			for _, p := range sortedKeysOf(prefs) {
				add(preferencePrefix+p, stamped(prefs[p]))
			}
		case k == "consent" && isObject(v): // with the context's, above
		default:
			add(traitPrefix+k, stamped(v))
		}
	}
	for _, k := range sortedKeysOf(e.TraitsSetOnce) {
		add(oncePrefix+k, stamped(e.TraitsSetOnce[k]))
	}
	for _, k := range e.TraitsUnset {
		add(traitPrefix+k, stamped([]byte("null")))
	}
	for _, k := range sortedKeysOf(e.TraitsIncrement) {
		n := e.TraitsIncrement[k]
		micros, err := event.Micros(n)
		if err != nil { // Prepare rejects these; a direct caller may not have run it
			continue
		}
		add(counterPrefix+k, counterEntry(stamp, micros))
		add(incSourcePrefix+k, stamped([]byte(n)))
	}

	// Transactional.
	if e.Type == event.TypeTrack && (m.orders[e.Name] || m.refunds[e.Name]) {
		cur := m.currency(props)
		amount, hasAmount := m.amount(props)
		if m.orders[e.Name] {
			add(fieldOrders, "1")
			add(fieldItems, strconv.FormatInt(items(props), 10))
			add(fieldFirstOrder, msText)
			add(fieldLastOrder, msText)
			if hasAmount {
				add(revenuePrefix+cur, strconv.FormatInt(amount, 10))
				add(orderCurPrefix+cur, "1")
			}
		} else {
			add(fieldRefunds, "1")
			if hasAmount {
				add(refundedPrefix+cur, strconv.FormatInt(amount, 10))
			}
		}
	}

	// Psychographic: survey scores and feedback.
	if raw, ok := scoreIn(props[m.cfg.Feedback.NPSProperty], 0, 10); ok {
		add(fieldNPS, stamped(raw))
	}
	if raw, ok := scoreIn(props[m.cfg.Feedback.CSATProperty], 1, 5); ok {
		add(fieldCSAT, stamped(raw))
	}
	for _, p := range m.cfg.Feedback.TextProperties {
		if text, ok := stringOf(props[p]); ok && strings.TrimSpace(text) != "" {
			score := strconv.Itoa(sentiment.Analyze(text).Score)
			add(fieldSentiment, stamped([]byte(score)))
			add(fieldSentimentN, "1")
			add(fieldSentimentSum, score)
			break
		}
	}
	return u
}

// session returns the short hash naming the event's session: its session id
// if it has one, else its channel and window of event time.
func (m *Model) session(e *event.Event, props, ctx map[string]json.RawMessage) string {
	key := ""
	for _, p := range m.cfg.Sessions.Properties {
		for _, obj := range []map[string]json.RawMessage{props, ctx} {
			if raw, ok := obj[p]; ok && key == "" {
				if s, ok := stringOf(raw); ok && s != "" {
					key = "id/" + s
				} else if isNumber(raw) {
					key = "id/" + string(raw)
				}
			}
		}
	}
	if key == "" {
		w := m.cfg.Sessions.Window.Milliseconds()
		key = fmt.Sprintf("%s/%d", e.Channel, e.EventTime.UnixMilli()/w)
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return fmt.Sprintf("%08x", h.Sum32())
}

func (m *Model) currency(props map[string]json.RawMessage) string {
	if s, ok := stringOf(props["currency"]); ok {
		if c := strings.ToUpper(strings.TrimSpace(s)); currencyPattern.MatchString(c) {
			return c
		}
	}
	return m.cfg.Currency.Default
}

// amount returns the first value property that is a number (or a numeric
// string), in micro-units.
func (m *Model) amount(props map[string]json.RawMessage) (int64, bool) {
	for _, p := range m.cfg.Orders.ValueProperties {
		raw, ok := props[p]
		if !ok {
			continue
		}
		text := string(raw)
		if s, ok := stringOf(raw); ok {
			text = strings.TrimSpace(s)
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) >= 1e12 {
			continue
		}
		return int64(math.Round(f * 1e6)), true
	}
	return 0, false
}

// items counts the units of an order: the quantities of its products (1
// each if not given), or its quantity property.
func items(props map[string]json.RawMessage) int64 {
	var products []map[string]json.RawMessage
	if json.Unmarshal(props["products"], &products) == nil && len(products) > 0 {
		var n int64
		for _, p := range products {
			q := int64(1)
			if v, ok := wholeNumber(p["quantity"]); ok && v >= 0 {
				q = v
			}
			n += q
		}
		return n
	}
	if v, ok := wholeNumber(props["quantity"]); ok && v >= 0 {
		return v
	}
	return 0
}

// scoreIn returns a survey score in [lo, hi] as canonical JSON.
func scoreIn(raw json.RawMessage, lo, hi float64) ([]byte, bool) {
	if !isNumber(raw) {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < lo || f > hi {
		return nil, false
	}
	return strconv.AppendFloat(nil, f, 'f', -1, 64), true
}

func objectOf(raw json.RawMessage) map[string]json.RawMessage {
	if !isObject(raw) {
		return nil
	}
	return decodeObject(raw)
}

func stringOf(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	return unquote(raw)
}

func wholeNumber(raw json.RawMessage) (int64, bool) {
	if !isNumber(raw) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
		return 0, false
	}
	return int64(f), true
}

func isObject(raw json.RawMessage) bool {
	raw = trimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func isBool(raw json.RawMessage) bool {
	s := string(trimSpace(raw))
	return s == "true" || s == "false"
}

func isNumber(raw json.RawMessage) bool {
	raw = trimSpace(raw)
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}

func trimSpace(raw json.RawMessage) json.RawMessage { return bytes.TrimSpace(raw) }

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
