package tracking

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
)

// Source is where messages come from: the tenant and channel that a write
// key is configured for. Clients cannot choose them.
type Source struct {
	Tenant  string
	Channel string
}

// Map turns one Segment message into a cxstream envelope received at now.
// The message's Type decides the mapping; a collector endpoint such as
// /v1/track sets it before calling Map, because the endpoint's type wins over
// the body's.
//
//	envelope      Segment
//	event_id      messageId, or a new random UUID when the client sent none
//	tenant        Source.Tenant (the write key's configuration)
//	channel       Source.Channel
//	type          type
//	name          event (track), name (page, screen), empty otherwise
//	event_time    timestamp (else originalTimestamp) + (now - sentAt); now if
//	              the client sent no timestamp (see eventTime)
//	received_at   now
//	identifiers   userId -> user_id, anonymousId -> anonymous_id,
//	              previousId -> anonymous_id, traits.email (else
//	              context.traits.email) -> email, traits.phone (else
//	              context.traits.phone) -> phone, context.device.id ->
//	              device_id, context.externalIds[i] {id, type} -> lower(type)
//	traits        traits (identify only)
//	properties    properties (track, page, screen);
//	              {"group_id": groupId, "traits": traits} (group)
//	context       context, passed through
//
// A message without messageId gets a random event_id, as Segment's own
// libraries do; but then a client's retry of it gets another one and cannot
// be deduplicated. Clients should always send messageId.
//
// previousId becomes an anonymous_id because that is what an alias call's
// previousId almost always is in practice: the anonymous id the visitor had
// before signing up, linked to the new userId. Should a client alias two user
// ids, the old one is still linked to the profile, only under the weaker type.
//
// A group call's traits are the group's (the company's email and phone), so
// they never become identifiers of the person; only context.traits do.
//
// Map checks what depends on the Segment shape (types of fields, required
// fields per call, identifier values, which it normalises) and reports it as
// event.Errors in Segment's field names. It does not apply event.Limits:
// call Prepare on the result, which also reports in Segment's names.
func Map(m *Message, src Source, now time.Time) (*event.Event, error) {
	now = now.UTC()
	var errs event.Errors
	typ := event.Type(m.Type)
	if !typ.Known() {
		addErr(&errs, "type", "must be one of track, identify, page, screen, alias, group (got %q)", m.Type)
	}
	e := &event.Event{
		EventID:    m.MessageID,
		Tenant:     src.Tenant,
		Channel:    src.Channel,
		Type:       typ,
		ReceivedAt: now,
	}
	e.EventTime = eventTime(m, now, &errs)
	ctx := readContext(m.Context, &errs)
	personTraits := mapPayload(m, e, &errs)
	e.Identifiers = identifiers(m, personTraits, ctx, &errs)
	if !isNull(m.Context) {
		e.Context = m.Context
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if e.EventID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, fmt.Errorf("generate event id: %w", err)
		}
		e.EventID = id.String()
	}
	return e, nil
}

// mapPayload sets the name, traits and properties of e by type, and returns
// the email and phone found in the message's own traits (nil for a group's
// traits, which describe the group).
func mapPayload(m *Message, e *event.Event, errs *event.Errors) personTraits {
	var pt personTraits
	switch e.Type {
	case event.TypeTrack:
		e.Name = m.Event
		if e.Name == "" {
			addErr(errs, "event", "required for track calls")
		}
		e.Properties = object(m.Properties, "properties", errs)
		pt = readPersonTraits(m.Traits, errs)
	case event.TypePage, event.TypeScreen:
		e.Name = m.Name
		e.Properties = object(m.Properties, "properties", errs)
		pt = readPersonTraits(m.Traits, errs)
	case event.TypeIdentify:
		e.Traits, pt = readIdentifyTraits(m.Traits, errs)
	case event.TypeAlias:
		if isNull(m.PreviousID) {
			addErr(errs, "previousId", "required for alias calls")
		}
		if isNull(m.UserID) {
			addErr(errs, "userId", "required for alias calls")
		}
		pt = readPersonTraits(m.Traits, errs)
	case event.TypeGroup:
		e.Properties = groupProperties(m, errs)
	}
	return pt
}

// groupProperties renders a group call's groupId and traits as the event's
// properties: {"group_id": "...", "traits": {...}}.
func groupProperties(m *Message, errs *event.Errors) json.RawMessage {
	id := idText(m.GroupID, "groupId", errs)
	if id == "" && !isNull(m.GroupID) {
		return nil
	}
	if id == "" {
		addErr(errs, "groupId", "required for group calls")
		return nil
	}
	traits := object(m.Traits, "traits", errs)
	b, err := json.Marshal(struct {
		GroupID string          `json:"group_id"`
		Traits  json.RawMessage `json:"traits,omitempty"`
	}{id, traits})
	if err != nil {
		addErr(errs, "traits", "cannot be encoded: %v", err)
		return nil
	}
	return b
}

// object returns raw if it is a JSON object, nil if it is absent or null, and
// records an error otherwise.
func object(raw json.RawMessage, field string, errs *event.Errors) json.RawMessage {
	switch {
	case isNull(raw):
		return nil
	case isObject(raw):
		return raw
	}
	addErr(errs, field, "must be a JSON object")
	return nil
}
