package profile

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/sentiment"
)

// Profile is the unified view of one customer: the value of cx.profiles
// messages and of the Profile API (schemas/profile.schema.json). It is
// rendered from State and Meta and nothing else, so the same state renders
// the same bytes at the same AsOf.
type Profile struct {
	ProfileID string `json:"profile_id"`
	Tenant    string `json:"tenant"`
	// Version grows with every change of the tenant's state; of two
	// messages about one profile, the higher version is the newer.
	Version int64 `json:"version"`
	// AsOf is the time the derived fields were computed for.
	AsOf time.Time `json:"as_of"`
	// Identifiers lists the normalised identifier values by type, sorted.
	Identifiers map[string][]string `json:"identifiers"`
	// Traits holds each trait's value after the set, set_once, unset and
	// increment operations, by event time; unset traits are omitted.
	Traits        map[string]json.RawMessage `json:"traits"`
	Demographic   Demographic                `json:"demographic"`
	Behavioral    Behavioral                 `json:"behavioral"`
	Transactional Transactional              `json:"transactional"`
	Psychographic Psychographic              `json:"psychographic"`
	Derived       Derived                    `json:"derived"`
	// MergedFrom lists the profile ids merged into this one; they still
	// resolve to it.
	MergedFrom []string `json:"merged_from"`
	// Segments lists the segments (docs/segments.md) the customer is in as
	// of AsOf, sorted. Render leaves it empty: membership depends on the
	// configured segments (pkg/segment, which this package cannot import), so
	// whoever evaluates them fills it in: the resolver
	// (pipeline/resolve.Activator) before it publishes the profile on
	// cx.profiles, and the Profile API when it answers.
	Segments []string `json:"segments"`
	// Provenance says where each stamped value came from, keyed by its path
	// in this document ("traits.plan", "psychographic.nps"); only when
	// asked for.
	Provenance map[string]Source `json:"provenance,omitempty"`
}

// Demographic is who the customer is, from traits (name, first_name and
// last_name, email, phone, locale, address.country and address.city) and
// the event context (locale, location); traits win. Email and phone fall
// back to the profile's identifiers.
type Demographic struct {
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Locale  string `json:"locale,omitempty"`
	Country string `json:"country,omitempty"`
	City    string `json:"city,omitempty"`
}

// Behavioral is what the customer does.
type Behavioral struct {
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Events    int64     `json:"events"`
	// Sessions counts distinct session ids, and per channel the windows of
	// event time with events but no session id.
	Sessions    int64 `json:"sessions"`
	PageViews   int64 `json:"page_views"`
	ScreenViews int64 `json:"screen_views"`
	// Channels counts events per channel.
	Channels map[string]int64 `json:"channels"`
	// EventTypes counts events per type (track, identify, page, ...).
	EventTypes  map[string]int64 `json:"event_types"`
	LastChannel string           `json:"last_channel,omitempty"`
	LastEvent   string           `json:"last_event,omitempty"`
}

// Transactional is what the customer bought. Amounts are per currency
// (exact to a millionth) and, converted at the configured rates, in the
// reporting currency (rounded to a hundredth).
type Transactional struct {
	Orders   int64              `json:"orders"`
	Items    int64              `json:"items"`
	Revenue  map[string]float64 `json:"revenue"`
	Refunds  int64              `json:"refunds"`
	Refunded map[string]float64 `json:"refunded"`
	// LifetimeValue is revenue minus refunds, per currency.
	LifetimeValue map[string]float64 `json:"lifetime_value"`
	// Currency is the reporting currency.
	Currency               string  `json:"currency"`
	LifetimeValueReporting float64 `json:"lifetime_value_reporting"`
	// AverageOrderValue is revenue in the reporting currency per order.
	AverageOrderValue float64 `json:"average_order_value"`
	// Unconverted lists currencies without a configured rate, left out of
	// the reporting figures.
	Unconverted  []string   `json:"unconverted,omitempty"`
	FirstOrderAt *time.Time `json:"first_order_at,omitempty"`
	LastOrderAt  *time.Time `json:"last_order_at,omitempty"`
}

// Psychographic is what the customer prefers, allows and feels.
type Psychographic struct {
	Preferences map[string]json.RawMessage `json:"preferences"`
	// Consent per purpose (true: granted).
	Consent   map[string]bool `json:"consent"`
	NPS       *Score          `json:"nps,omitempty"`
	CSAT      *Score          `json:"csat,omitempty"`
	Sentiment *Sentiment      `json:"sentiment,omitempty"`
}

// Score is the latest answer to a survey question.
type Score struct {
	Score   float64   `json:"score"`
	At      time.Time `json:"at"`
	Channel string    `json:"channel"`
}

// Sentiment sums up the customer's free-text feedback (see pkg/sentiment):
// scores from -1000 (negative) to 1000 (positive).
type Sentiment struct {
	Score     int       `json:"score"`
	Label     string    `json:"label"`
	At        time.Time `json:"at"`
	Average   int       `json:"average"`
	Responses int64     `json:"responses"`
}

// Derived holds what is computed from the rest as of AsOf.
type Derived struct {
	// Lifecycle is new, active, at_risk or churned (see LifecycleConfig).
	Lifecycle string `json:"lifecycle"`
	// RFM scores recency, frequency and monetary value 1 to 5; only for
	// customers with an order.
	RFM *RFM `json:"rfm,omitempty"`
}

// RFM is a customer's recency, frequency and monetary scores.
type RFM struct {
	Recency   int `json:"recency"`
	Frequency int `json:"frequency"`
	Monetary  int `json:"monetary"`
	// Segment is the three scores as digits, "555" the best.
	Segment string `json:"segment"`
}

// Merged is the cx.profiles value for a profile that was merged away.
type Merged struct {
	MergedInto string `json:"merged_into"`
	Version    int64  `json:"version"`
}

// Meta is what a rendering needs besides the state.
type Meta struct {
	// Version overrides the state's FieldVersion if not 0.
	Version    int64
	AsOf       time.Time
	Provenance bool
}

// Render shows a state as a profile.
func (m *Model) Render(tenant, id string, s State, meta Meta) *Profile {
	p := &Profile{
		ProfileID:   id,
		Tenant:      tenant,
		Version:     meta.Version,
		AsOf:        meta.AsOf.UTC().Truncate(time.Millisecond),
		Identifiers: map[string][]string{},
		Traits:      map[string]json.RawMessage{},
		Behavioral:  Behavioral{Channels: map[string]int64{}, EventTypes: map[string]int64{}},
		Transactional: Transactional{Revenue: map[string]float64{}, Refunded: map[string]float64{},
			LifetimeValue: map[string]float64{}, Currency: m.cfg.Currency.Reporting},
		Psychographic: Psychographic{Preferences: map[string]json.RawMessage{}, Consent: map[string]bool{}},
		MergedFrom:    []string{},
		Segments:      []string{},
	}
	if meta.Provenance {
		p.Provenance = map[string]Source{}
	}
	if p.Version == 0 {
		p.Version = atoi(s[FieldVersion])
	}
	r := renderer{p: p, s: s}
	revenue, refunded, orders := map[string]int64{}, map[string]int64{}, map[string]int64{}
	traits := map[string]bool{}
	for f, v := range s {
		switch {
		case f == FieldEvents:
			p.Behavioral.Events = atoi(v)
		case f == FieldFirstSeen:
			p.Behavioral.FirstSeen = msTime(v)
		case f == FieldLastSeen:
			p.Behavioral.LastSeen = msTime(v)
		case f == FieldLastChannel:
			p.Behavioral.LastChannel = r.str(f, "behavioral.last_channel")
		case f == FieldLastEvent:
			p.Behavioral.LastEvent = r.str(f, "behavioral.last_event")
		case f == fieldOrders:
			p.Transactional.Orders = atoi(v)
		case f == fieldItems:
			p.Transactional.Items = atoi(v)
		case f == fieldRefunds:
			p.Transactional.Refunds = atoi(v)
		case f == fieldFirstOrder:
			t := msTime(v)
			p.Transactional.FirstOrderAt = &t
		case f == fieldLastOrder:
			t := msTime(v)
			p.Transactional.LastOrderAt = &t
		case f == fieldNPS:
			p.Psychographic.NPS = r.score(f, "psychographic.nps")
		case f == fieldCSAT:
			p.Psychographic.CSAT = r.score(f, "psychographic.csat")
		case f == fieldSentiment:
			r.sentiment()
		case strings.HasPrefix(f, revenuePrefix):
			revenue[f[len(revenuePrefix):]] = atoi(v)
		case strings.HasPrefix(f, orderCurPrefix):
			orders[f[len(orderCurPrefix):]] = atoi(v)
		case strings.HasPrefix(f, refundedPrefix):
			refunded[f[len(refundedPrefix):]] = atoi(v)
		case strings.HasPrefix(f, channelPrefix):
			p.Behavioral.Channels[f[len(channelPrefix):]] = atoi(v)
		case strings.HasPrefix(f, typePrefix):
			p.Behavioral.EventTypes[f[len(typePrefix):]] = atoi(v)
		case strings.HasPrefix(f, sessionPrefix):
			p.Behavioral.Sessions++
		case strings.HasPrefix(f, traitPrefix):
			traits[f[len(traitPrefix):]] = true
		case strings.HasPrefix(f, oncePrefix):
			traits[f[len(oncePrefix):]] = true
		case strings.HasPrefix(f, counterPrefix):
			traits[f[len(counterPrefix):]] = true
		case strings.HasPrefix(f, preferencePrefix):
			k := f[len(preferencePrefix):]
			if sv, ok := r.value(f, "psychographic.preferences."+k); ok && !sv.null() {
				p.Psychographic.Preferences[k] = sv.value
			}
		case strings.HasPrefix(f, consentPrefix):
			k := f[len(consentPrefix):]
			if sv, ok := r.value(f, "psychographic.consent."+k); ok {
				p.Psychographic.Consent[k] = string(sv.value) == "true"
			}
		case strings.HasPrefix(f, idPrefix):
			typ, value, _ := strings.Cut(f[len(idPrefix):], ":")
			p.Identifiers[typ] = append(p.Identifiers[typ], value)
		case strings.HasPrefix(f, mergedPrefix):
			p.MergedFrom = append(p.MergedFrom, f[len(mergedPrefix):])
		}
	}
	for _, vs := range p.Identifiers {
		slices.Sort(vs)
	}
	slices.Sort(p.MergedFrom)
	p.Behavioral.PageViews = p.Behavioral.EventTypes["page"]
	p.Behavioral.ScreenViews = p.Behavioral.EventTypes["screen"]
	for k := range traits {
		if v, ok := r.trait(k); ok {
			p.Traits[k] = v
		}
	}
	m.demographic(r)
	m.money(&p.Transactional, revenue, refunded, orders)
	m.derive(p)
	return p
}

// renderer reads stamped values of one state and records their provenance.
type renderer struct {
	p *Profile
	s State
}

func (r renderer) value(f, path string) (sourced, bool) {
	v, ok := r.s[f]
	if !ok {
		return sourced{}, false
	}
	sv, ok := decodeStamped(v)
	if ok && r.p.Provenance != nil {
		r.p.Provenance[path] = sv.source
	}
	return sv, ok
}

func (r renderer) str(f, path string) string {
	sv, ok := r.value(f, path)
	if !ok {
		return ""
	}
	s, _ := unquote(sv.value)
	return s
}

func (r renderer) score(f, path string) *Score {
	sv, ok := r.value(f, path)
	if !ok {
		return nil
	}
	n, err := strconv.ParseFloat(string(sv.value), 64)
	if err != nil {
		return nil
	}
	return &Score{Score: n, At: sv.source.EventTime, Channel: sv.source.Channel}
}

func (r renderer) sentiment() {
	sv, ok := r.value(fieldSentiment, "psychographic.sentiment")
	if !ok {
		return
	}
	score, _ := strconv.Atoi(string(sv.value))
	n := atoi(r.s[fieldSentimentN])
	avg := 0
	if n > 0 {
		avg = int(math.Round(float64(atoi(r.s[fieldSentimentSum])) / float64(n)))
	}
	r.p.Psychographic.Sentiment = &Sentiment{Score: score, Label: sentiment.LabelOf(score), At: sv.source.EventTime,
		Average: avg, Responses: n}
}

// trait returns a trait's value after all its operations: the latest set
// (null: unset) plus the increments newer than it; a set_once value if no
// set or increment came before it.
func (r renderer) trait(k string) (json.RawMessage, bool) {
	path := "traits." + k
	var set, once sourced
	hasSet, hasOnce := false, false
	if v, ok := r.s[traitPrefix+k]; ok {
		set, hasSet = decodeStamped(v)
	}
	if v, ok := r.s[oncePrefix+k]; ok {
		once, hasOnce = decodeStamped(v)
	}
	cv, hasCounter := r.s[counterPrefix+k]
	c := parseCounter(cv)
	hasCounter = hasCounter && !c.empty()
	// set_once applies if nothing set the trait before it.
	onceApplies := hasOnce && (!hasSet || once.stamp > set.stamp) && (!hasCounter || once.stamp < c.oldest())
	base, baseOK := set, hasSet && !set.null()
	if !baseOK && onceApplies {
		base, baseOK = once, true
	}
	if !hasCounter {
		if !baseOK {
			return nil, false
		}
		r.provenance(path, base.source)
		return base.value, true
	}
	var micros int64
	if baseOK {
		if n, err := strconv.ParseFloat(string(base.value), 64); err == nil && !math.IsInf(n, 0) && !math.IsNaN(n) {
			micros = int64(math.Round(n * 1e6))
		}
	}
	src := base.source
	if inc, ok := decodeStamped(r.s[incSourcePrefix+k]); ok && (!baseOK || inc.stamp > base.stamp) {
		src = inc.source
	}
	r.provenance(path, src)
	return json.RawMessage(formatMicros(micros + c.sum())), true
}

func (r renderer) provenance(path string, s Source) {
	if r.p.Provenance != nil {
		r.p.Provenance[path] = s
	}
}

func (m *Model) demographic(r renderer) {
	p := r.p
	d := &p.Demographic
	text := func(k string) string {
		s, _ := unquote(p.Traits[k])
		return strings.TrimSpace(s)
	}
	d.Name = text("name")
	if d.Name == "" {
		d.Name = strings.TrimSpace(strings.Join([]string{firstOf(text("first_name"), text("firstName")),
			firstOf(text("last_name"), text("lastName"))}, " "))
	}
	// A trait the resolver hashed (it repeated a hashed identifier) is no
	// contact detail.
	plain := func(k string) string {
		if v := text(k); !identity.IsHashed(v) {
			return v
		}
		return ""
	}
	d.Email = firstOf(plain("email"), firstOfList(p.Identifiers["email"]))
	d.Phone = firstOf(plain("phone"), firstOfList(p.Identifiers["phone"]))
	// Context values only where no trait gives one, so that the provenance
	// recorded is that of the value shown.
	var addr struct{ Country, City string }
	json.Unmarshal(p.Traits["address"], &addr)
	if d.Locale = text("locale"); d.Locale == "" {
		d.Locale = r.str(fieldLocale, "demographic.locale")
	}
	if d.Country = strings.TrimSpace(addr.Country); d.Country == "" {
		d.Country = r.str(fieldCountry, "demographic.country")
	}
	if d.City = strings.TrimSpace(addr.City); d.City == "" {
		d.City = r.str(fieldCity, "demographic.city")
	}
}

// money fills the amounts: per currency exact, in the reporting currency
// summed in currency order and rounded to a hundredth. The average order
// value divides the converted revenue by the orders whose amounts were
// converted (orders counts them per currency).
func (m *Model) money(t *Transactional, revenue, refunded, orders map[string]int64) {
	var ltv, gross float64
	var converted int64
	curs := map[string]bool{}
	for c, v := range revenue {
		t.Revenue[c] = float64(v) / 1e6
		curs[c] = true
	}
	for c, v := range refunded {
		t.Refunded[c] = float64(v) / 1e6
		curs[c] = true
	}
	for _, c := range sortedKeysOf(curs) {
		net := revenue[c] - refunded[c]
		t.LifetimeValue[c] = float64(net) / 1e6
		rate, ok := m.cfg.Currency.Rates[c]
		if c == m.cfg.Currency.Reporting {
			rate, ok = 1, true
		}
		if !ok {
			t.Unconverted = append(t.Unconverted, c)
			continue
		}
		ltv += float64(net) / 1e6 * rate
		gross += float64(revenue[c]) / 1e6 * rate
		converted += orders[c]
	}
	t.LifetimeValueReporting = cents(ltv)
	if converted > 0 {
		t.AverageOrderValue = cents(gross / float64(converted))
	}
}

// derive computes the lifecycle stage and RFM scores as of p.AsOf.
func (m *Model) derive(p *Profile) {
	l := m.cfg.Lifecycle
	days := func(t time.Time) float64 { return p.AsOf.Sub(t).Hours() / 24 }
	switch b := p.Behavioral; {
	case b.Events == 0:
	case days(b.LastSeen) > float64(l.ChurnDays):
		p.Derived.Lifecycle = "churned"
	case days(b.LastSeen) > float64(l.ActiveDays):
		p.Derived.Lifecycle = "at_risk"
	case days(b.FirstSeen) <= float64(l.NewDays):
		p.Derived.Lifecycle = "new"
	default:
		p.Derived.Lifecycle = "active"
	}
	t := p.Transactional
	if t.Orders == 0 || t.LastOrderAt == nil {
		return
	}
	rfm := &RFM{
		Recency:   6 - bucket(days(*t.LastOrderAt), m.cfg.RFM.RecencyDays, true),
		Frequency: bucket(float64(t.Orders), m.cfg.RFM.FrequencyOrders, false),
		Monetary:  bucket(t.LifetimeValueReporting, m.cfg.RFM.Monetary, false),
	}
	rfm.Segment = strconv.Itoa(rfm.Recency*100 + rfm.Frequency*10 + rfm.Monetary)
	p.Derived.RFM = rfm
}

// LifecycleChangeAfter returns when p's lifecycle stage may change next
// with the passage of time alone (no new event): the earliest moment after
// p.AsOf at which one of the thresholds of LifecycleConfig passes, or the
// zero time if none is ahead (no events, or churned already). The stage is
// the same at every moment before it. Stages compare spans with ">", so
// the moment is one millisecond past the threshold.
func (m *Model) LifecycleChangeAfter(p *Profile) time.Time {
	b := p.Behavioral
	if b.Events == 0 {
		return time.Time{}
	}
	l := m.cfg.Lifecycle
	day := 24 * time.Hour
	var next time.Time
	for _, t := range []time.Time{
		b.FirstSeen.Add(time.Duration(l.NewDays) * day),   // new -> active
		b.LastSeen.Add(time.Duration(l.ActiveDays) * day), // -> at_risk
		b.LastSeen.Add(time.Duration(l.ChurnDays) * day),  // -> churned
	} {
		t = t.Add(time.Millisecond)
		if t.After(p.AsOf) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// bucket places x among four ascending bounds: 1 below bounds[0] (or at
// most, if inclusive), up to 5 from bounds[3] on (or above).
func bucket(x float64, bounds []float64, inclusive bool) int {
	n := 1
	for _, b := range bounds {
		if x > b || (!inclusive && x == b) {
			n++
		}
	}
	return n
}

func cents(x float64) float64 { return math.Round(x*100) / 100 }

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// firstOfList returns the first value of an identifier list that is not
// stored hashed (a hash is no way to reach anyone).
func firstOfList(vs []string) string {
	for _, v := range vs {
		if !identity.IsHashed(v) {
			return v
		}
	}
	return ""
}
