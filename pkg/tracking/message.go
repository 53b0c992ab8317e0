// Package tracking maps Segment's HTTP tracking API (track, identify, page,
// screen, alias, group and batch calls) onto the cxstream envelope of
// pkg/event. It is pure: it decodes, maps and validates, and does no I/O.
//
// The flow for one message is DecodeMessage (or DecodeBatch and Batch.Item),
// Map, then Prepare; every error on the way is an event.Errors whose field
// names are Segment's ("userId", "timestamp", "traits.email"), so that a
// client can be told what to fix in its own terms.
package tracking

import "encoding/json"

// Message is one call of the Segment tracking API, as a client sends it.
//
// Identifier-like fields (userId, anonymousId, previousId, groupId) are kept
// as raw JSON because clients commonly send numbers for them; Map converts
// them to text. Properties, traits and context stay raw and are passed
// through; Map reads only what it needs from them.
type Message struct {
	Type        string          `json:"type"`
	MessageID   string          `json:"messageId"`
	UserID      json.RawMessage `json:"userId"`
	AnonymousID json.RawMessage `json:"anonymousId"`
	PreviousID  json.RawMessage `json:"previousId"`
	GroupID     json.RawMessage `json:"groupId"`
	// Event is the name of a track call.
	Event string `json:"event"`
	// Name is the name of a page or screen call.
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
	Traits     json.RawMessage `json:"traits"`
	// Context is passed through to the envelope; Map reads context.traits
	// (email, phone), context.device.id and context.externalIds from it.
	Context json.RawMessage `json:"context"`
	// Timestamp and OriginalTimestamp are when the call happened on the
	// client's clock; SentAt is when the client sent it, on the same clock.
	// All are ISO 8601 (RFC 3339) strings.
	Timestamp         string `json:"timestamp"`
	OriginalTimestamp string `json:"originalTimestamp"`
	SentAt            string `json:"sentAt"`
	// WriteKey may authenticate a request in the body instead of HTTP Basic
	// auth (analytics.js does this).
	WriteKey string `json:"writeKey"`

	// receivedAt and integrations are accepted and ignored: receivedAt is the
	// server's to set, and destinations are not cxstream's concern.
}

// Batch is the body of a /v1/batch (or /v1/import) call. Items are kept raw
// so that an invalid item can be rejected, and dead-lettered byte for byte,
// without losing the others; decode each with Item.
type Batch struct {
	Items []json.RawMessage `json:"batch"`
	// SentAt and Context apply to every item that has none of its own
	// (analytics-go sends both at batch level).
	SentAt   string          `json:"sentAt"`
	Context  json.RawMessage `json:"context"`
	WriteKey string          `json:"writeKey"`
}
