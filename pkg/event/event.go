// Package event defines the cxstream interaction envelope: the one shape that
// every channel adapter produces and every pipeline stage consumes. It decodes,
// normalises and validates events and does no I/O.
//
// The envelope's wire form is JSON, described by schemas/envelope.schema.json.
package event

import (
	"encoding/json"
	"strings"
	"time"
)

// Type is the kind of interaction, following the Segment tracking spec.
type Type string

// The interaction types cxstream understands.
const (
	TypeTrack    Type = "track"
	TypeIdentify Type = "identify"
	TypePage     Type = "page"
	TypeScreen   Type = "screen"
	TypeAlias    Type = "alias"
	TypeGroup    Type = "group"
)

// Known reports whether t is one of the interaction types above.
func (t Type) Known() bool {
	switch t {
	case TypeTrack, TypeIdentify, TypePage, TypeScreen, TypeAlias, TypeGroup:
		return true
	}
	return false
}

// Identifier is one typed identifier of a person, such as email:jane@example.com.
// Values are stored normalised (see Normalize).
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// String returns the identifier as "type:value", the form used for Kafka keys,
// Redis index fields and Profile API references.
func (id Identifier) String() string { return id.Type + ":" + id.Value }

// ParseIdentifier parses "type:value". The value may itself contain colons.
func ParseIdentifier(s string) (Identifier, bool) {
	typ, value, ok := strings.Cut(s, ":")
	if !ok || typ == "" || value == "" {
		return Identifier{}, false
	}
	return Identifier{Type: typ, Value: value}, true
}

// Event is one customer interaction on one channel.
type Event struct {
	// EventID identifies the interaction; producers that retry must resend the
	// same id (Segment's messageId) so that the retry is recognised.
	EventID string `json:"event_id"`
	// Tenant is the brand or workspace the event belongs to; tenants never share
	// profiles.
	Tenant string `json:"tenant"`
	// Channel is where the interaction happened: web, mobile, store, call_center...
	Channel string `json:"channel"`
	Type    Type   `json:"type"`
	// Name is the event name of a track call ("Order Completed") or the page or
	// screen name.
	Name string `json:"name,omitempty"`
	// EventTime is when the interaction happened; all profile semantics order by
	// it, never by arrival.
	EventTime time.Time `json:"event_time"`
	// ReceivedAt is when cxstream (or the producing system) received the event.
	ReceivedAt  time.Time    `json:"received_at"`
	Identifiers []Identifier `json:"identifiers"`
	// Traits are facts about the person (name, email, plan) that the event
	// sets; each value is kept as raw JSON and folded last-writer-wins by
	// event time, and a null value unsets the trait.
	//
	// Traits, TraitsSetOnce, TraitsUnset and TraitsIncrement are the four
	// trait operations (set, set once, unset, increment); one event may name
	// a trait in only one of them (see Prepare).
	Traits map[string]json.RawMessage `json:"traits,omitempty"`
	// TraitsSetOnce are traits that are set only if the profile has no value for them yet (PostHog $set_once).
	TraitsSetOnce map[string]json.RawMessage `json:"traits_set_once,omitempty"`
	// TraitsUnset names traits to remove (PostHog $unset).
	TraitsUnset []string `json:"traits_unset,omitempty"`
	// TraitsIncrement adds a number to numeric traits (Mixpanel $add); negative to decrement.
	// Each value is a JSON number of at most 1e12 in absolute value with at
	// most 6 decimal places, folded exactly as integer millionths (Micros).
	TraitsIncrement map[string]json.Number `json:"traits_increment,omitempty"`
	// Properties describe the interaction itself (order id, revenue, page url).
	Properties json.RawMessage `json:"properties,omitempty"`
	// Context is the technical context (ip, user agent, device, campaign).
	Context json.RawMessage `json:"context,omitempty"`
}

// Resolved is an event after identity resolution: the envelope plus the
// profile it was attributed to. It is the value of cx.timeline messages.
type Resolved struct {
	ProfileID string `json:"profile_id"`
	*Event
}
