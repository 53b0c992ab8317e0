// Package profile defines the unified customer profile and the fold that
// builds it from events: demographic, behavioural, transactional and
// psychographic data, the traits set by the four trait operations, and what
// is derived from them (lifecycle stage, RFM scores).
//
// A profile's state is a flat map of fields. Each field name starts with one
// letter and a colon that says how two values of the field combine, so that
// folding an event into a profile and merging two profiles are the same
// field-wise operation, whatever the order:
//
//	a:  integer sum                     a:events, a:ch:web, a:o:rev:EUR (micro-units)
//	n:  integer minimum                 n:first_seen (unix ms), n:ss:<session> (sessions)
//	x:  integer maximum                 x:last_seen (unix ms), x:o:last
//	w:  greatest stamp wins             w:t:<trait> (set, unset), w:nps, w:cs:<purpose>
//	o:  smallest stamp wins             o:t:<trait> (set_once)
//	c:  increments newer than the set   c:t:<trait> (increment)
//	i:  identifier, first linked (min)  i:email:jane@example.com
//	m:  merged-from profile (min ms)    m:<profile id>
//
// A "w:" or "o:" value is a 31-byte stamp (15-digit unix ms of the event
// time, then 16 hex digits of the FNV-1a hash of the event id: the
// deterministic tie-break) followed by the JSON array [channel, event id,
// value]: the value and where it came from (its provenance). A "c:" value is
// described in counter.go. The same rules run in Go (State) and in Redis
// (pkg/redisstore's Lua script); the Go side is the reference that the Redis
// side is tested against, and reference_test.go is the plain sequential
// model both are tested against.
//
// Which events feed which fields is the Model's business (model.go, from
// Config); how a state is shown is Render's (render.go).
package profile

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

// Field name prefixes (see the package comment).
const (
	prefixAdd     = 'a'
	prefixMin     = 'n'
	prefixMax     = 'x'
	prefixLWW     = 'w'
	prefixOnce    = 'o'
	prefixCounter = 'c'
	prefixID      = 'i'
	prefixMerged  = 'm'
)

// Field names and name prefixes of the fold.
const (
	FieldEvents      = "a:events"
	FieldFirstSeen   = "n:first_seen"
	FieldLastSeen    = "x:last_seen"
	FieldLastChannel = "w:last_channel"
	FieldLastEvent   = "w:last_event"
	channelPrefix    = "a:ch:"
	typePrefix       = "a:ty:"
	sessionPrefix    = "n:ss:"
	idPrefix         = "i:"
	mergedPrefix     = "m:"

	// Traits: one field per operation kind.
	traitPrefix     = "w:t:"  // set and unset
	oncePrefix      = "o:t:"  // set_once
	counterPrefix   = "c:t:"  // increment
	incSourcePrefix = "w:ci:" // provenance of the newest increment

	// Demographic data from the event context.
	fieldLocale  = "w:d:locale"
	fieldCountry = "w:d:country"
	fieldCity    = "w:d:city"

	// Transactional data.
	fieldOrders      = "a:o:n"
	fieldItems       = "a:o:items"
	revenuePrefix    = "a:o:rev:" // + currency, micro-units
	orderCurPrefix   = "a:o:cnt:" // + currency: orders with an amount in it
	fieldFirstOrder  = "n:o:first"
	fieldLastOrder   = "x:o:last"
	fieldRefunds     = "a:rf:n"
	refundedPrefix   = "a:rf:amt:" // + currency, micro-units
	preferencePrefix = "w:pf:"
	consentPrefix    = "w:cs:"

	// Psychographic data.
	fieldNPS          = "w:nps"
	fieldCSAT         = "w:csat"
	fieldSentiment    = "w:snt"
	fieldSentimentN   = "a:snt:n"
	fieldSentimentSum = "a:snt:sum"
)

// FieldVersion is not a fold field: the store stamps it on a profile at each
// change with the tenant's state version (an integer that grows with every
// change), which Render shows as the profile's version. Merge ignores it.
const FieldVersion = "_v"

// StampLen is the length of the stamp that opens every "w:" and "o:" value.
const StampLen = 31

// Update is one field change produced by an event.
type Update struct {
	Field string
	Value string
}

// IDField is the state field recording identifier id.
func IDField(id string) string { return idPrefix + id }

// MergedField is the state field recording that profile pid was merged in.
func MergedField(pid string) string { return mergedPrefix + pid }

// Stamp returns the ordering stamp of an event: its event time, then a hash
// of its id to break ties between events of the same millisecond.
func Stamp(e *event.Event) string {
	h := fnv.New64a()
	h.Write([]byte(e.EventID))
	return fmt.Sprintf("%015d%016x", e.EventTime.UnixMilli(), h.Sum64())
}

// stamper encodes the "w:" and "o:" values of one event: the stamp, then
// [channel, event id, value]. It holds everything up to the value, built
// once per event.
type stamper string

func newStamper(stamp string, e *event.Event) stamper {
	id, _ := json.Marshal(e.EventID) // JSON, not Go, quoting: ids may hold any UTF-8
	return stamper(stamp + "[" + strconv.Quote(e.Channel) + "," + string(id) + ",")
}

// value encodes raw, which must be valid JSON.
func (p stamper) value(raw []byte) string { return string(p) + string(raw) + "]" }

// Source is where a value came from: the event that set it.
type Source struct {
	Channel   string    `json:"channel"`
	EventID   string    `json:"event_id"`
	EventTime time.Time `json:"event_time"`
}

// sourced is a decoded "w:" or "o:" value.
type sourced struct {
	stamp  string
	source Source
	value  json.RawMessage
}

// decodeStamped decodes a "w:" or "o:" value; ok is false if it is
// malformed (never the case for values this package wrote).
func decodeStamped(v string) (s sourced, ok bool) {
	if len(v) < StampLen {
		return s, false
	}
	if ch, id, value, ok := splitStamped(v[StampLen:]); ok { // what this package writes
		s.stamp = v[:StampLen]
		s.source = Source{Channel: ch, EventID: id, EventTime: msTime(v[:15])}
		s.value = value
		return s, true
	}
	var parts []json.RawMessage
	if json.Unmarshal([]byte(v[StampLen:]), &parts) != nil || len(parts) != 3 {
		return s, false
	}
	s.stamp = v[:StampLen]
	if json.Unmarshal(parts[0], &s.source.Channel) != nil || json.Unmarshal(parts[1], &s.source.EventID) != nil {
		return s, false
	}
	s.source.EventTime = msTime(v[:15])
	s.value = parts[2]
	return s, true
}

// null reports whether a decoded value is JSON null (an unset).
func (s sourced) null() bool { return string(s.value) == "null" }

func msTime(v string) time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
