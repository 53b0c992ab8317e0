package profile

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/sentiment"
)

// reference computes the profile of a set of distinct events the plain way:
// sort them by stamp and apply each in turn, with the semantics users read
// in the docs. The fold (State, any order, any split and merge) must render
// the same profile.
func reference(m *Model, tenant, id string, events []*event.Event, meta Meta) *Profile {
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b *event.Event) int { return strings.Compare(Stamp(a), Stamp(b)) })
	p := m.Render(tenant, id, State{}, meta) // the empty skeleton
	if meta.Provenance {
		p.Provenance = map[string]Source{}
	}
	src := func(e *event.Event) Source {
		return Source{Channel: e.Channel, EventID: e.EventID, EventTime: e.EventTime.UTC().Truncate(1e6)}
	}
	prov := func(path string, e *event.Event) {
		if p.Provenance != nil {
			p.Provenance[path] = src(e)
		}
	}
	type trait struct {
		raw    json.RawMessage // nil: no value
		micros int64           // when numeric through increments
		num    bool
	}
	traits := map[string]*trait{}
	get := func(k string) *trait {
		if traits[k] == nil {
			traits[k] = &trait{}
		}
		return traits[k]
	}
	sessions := map[string]bool{}
	revenue, refunded, orders := map[string]int64{}, map[string]int64{}, map[string]int64{}
	var locale, country, city string
	var sentimentSum int64
	b := &p.Behavioral
	for _, e := range sorted {
		props, ctx := objectOf(e.Properties), objectOf(e.Context)
		b.Events++
		b.Channels[e.Channel]++
		b.EventTypes[string(e.Type)]++
		if b.FirstSeen.IsZero() {
			b.FirstSeen = e.EventTime.UTC().Truncate(1e6)
		}
		b.LastSeen = e.EventTime.UTC().Truncate(1e6)
		b.LastChannel = e.Channel
		prov("behavioral.last_channel", e)
		if e.Type == event.TypeTrack || e.Type == event.TypePage || e.Type == event.TypeScreen {
			b.LastEvent = e.Name
			prov("behavioral.last_event", e)
		}
		sessions[m.session(e, props, ctx)] = true
		if s, ok := stringOf(ctx["locale"]); ok {
			locale = s
			prov("demographic.locale", e)
		}
		loc := objectOf(ctx["location"])
		if s, ok := stringOf(loc["country"]); ok {
			country = s
			prov("demographic.country", e)
		}
		if s, ok := stringOf(loc["city"]); ok {
			city = s
			prov("demographic.city", e)
		}
		consent := func(purposes map[string]json.RawMessage) {
			for k, v := range purposes {
				if isBool(v) {
					p.Psychographic.Consent[k] = string(trimSpace(v)) == "true"
					prov("psychographic.consent."+k, e)
				}
			}
		}
		consent(objectOf(objectOf(ctx["consent"])["categoryPreferences"]))
		for k, v := range e.Traits {
			switch {
			case k == "preferences" && isObject(v):
				for pk, pv := range objectOf(v) {
					if string(pv) == "null" {
						delete(p.Psychographic.Preferences, pk)
					} else {
						p.Psychographic.Preferences[pk] = pv
					}
					prov("psychographic.preferences."+pk, e)
				}
			case k == "consent" && isObject(v):
				consent(objectOf(v))
			case string(v) == "null":
				*get(k) = trait{}
			default:
				*get(k) = trait{raw: v}
				prov("traits."+k, e)
			}
		}
		for k, v := range e.TraitsSetOnce {
			if t := get(k); t.raw == nil && !t.num {
				*t = trait{raw: v}
				prov("traits."+k, e)
			}
		}
		for _, k := range e.TraitsUnset {
			*get(k) = trait{}
		}
		for k, n := range e.TraitsIncrement {
			d, _ := event.Micros(n)
			t := get(k)
			if !t.num {
				base := int64(0)
				if f, err := strconv.ParseFloat(string(t.raw), 64); err == nil && t.raw != nil {
					base = int64(math.Round(f * 1e6))
				}
				*t = trait{num: true, micros: base}
			}
			t.micros += d
			prov("traits."+k, e)
		}
		if e.Type == event.TypeTrack && m.orders[e.Name] {
			tr := &p.Transactional
			tr.Orders++
			tr.Items += items(props)
			at := e.EventTime.UTC().Truncate(1e6)
			if tr.FirstOrderAt == nil {
				tr.FirstOrderAt = &at
			}
			tr.LastOrderAt = &at
			if a, ok := m.amount(props); ok {
				revenue[m.currency(props)] += a
				orders[m.currency(props)]++
			}
		}
		if e.Type == event.TypeTrack && m.refunds[e.Name] {
			p.Transactional.Refunds++
			if a, ok := m.amount(props); ok {
				refunded[m.currency(props)] += a
			}
		}
		if raw, ok := scoreIn(props[m.cfg.Feedback.NPSProperty], 0, 10); ok {
			f, _ := strconv.ParseFloat(string(raw), 64)
			p.Psychographic.NPS = &Score{Score: f, At: e.EventTime.UTC().Truncate(1e6), Channel: e.Channel}
			prov("psychographic.nps", e)
		}
		if raw, ok := scoreIn(props[m.cfg.Feedback.CSATProperty], 1, 5); ok {
			f, _ := strconv.ParseFloat(string(raw), 64)
			p.Psychographic.CSAT = &Score{Score: f, At: e.EventTime.UTC().Truncate(1e6), Channel: e.Channel}
			prov("psychographic.csat", e)
		}
		for _, tp := range m.cfg.Feedback.TextProperties {
			if text, ok := stringOf(props[tp]); ok && strings.TrimSpace(text) != "" {
				r := sentiment.Analyze(text)
				s := p.Psychographic.Sentiment
				if s == nil {
					s = &Sentiment{}
					p.Psychographic.Sentiment = s
				}
				s.Score, s.Label, s.At = r.Score, r.Label, e.EventTime.UTC().Truncate(1e6)
				s.Responses++
				sentimentSum += int64(r.Score)
				s.Average = int(math.Round(float64(sentimentSum) / float64(s.Responses)))
				prov("psychographic.sentiment", e)
				break
			}
		}
	}
	for k, t := range traits {
		switch {
		case t.num:
			p.Traits[k] = json.RawMessage(formatMicros(t.micros))
		case t.raw != nil:
			p.Traits[k] = t.raw
		default:
			if p.Provenance != nil {
				delete(p.Provenance, "traits."+k)
			}
		}
	}
	b.Sessions = int64(len(sessions))
	b.PageViews, b.ScreenViews = b.EventTypes["page"], b.EventTypes["screen"]
	// Demographic: as Render documents it, from the final traits, then the
	// latest context values where no trait gives one.
	m.demographic(renderer{p: p, s: State{}})
	for _, f := range []struct {
		v    *string
		ctx  string
		path string
	}{{&p.Demographic.Locale, locale, "demographic.locale"}, {&p.Demographic.Country, country, "demographic.country"},
		{&p.Demographic.City, city, "demographic.city"}} {
		if *f.v == "" {
			*f.v = f.ctx
		} else if p.Provenance != nil {
			delete(p.Provenance, f.path)
		}
	}
	m.money(&p.Transactional, revenue, refunded, orders)
	m.derive(p)
	return p
}
