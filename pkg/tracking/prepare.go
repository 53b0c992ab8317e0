package tracking

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/cxstream/cxstream/pkg/event"
)

// Prepare normalises and validates a mapped event with event.Prepare under
// lim (the same judgement every cxstream stage applies), and renames the
// envelope fields in its errors to the Segment fields they came from:
// event_time -> timestamp, event_id -> messageId, an identifier -> the field
// that carried its type (identifiers of other types -> context.externalIds).
//
// Map already normalised the identifiers and reported their problems
// precisely; what is left for Prepare is mostly the limits (time window,
// lengths, counts).
func Prepare(e *event.Event, lim event.Limits) error {
	// event.Prepare reports identifiers by their index before it compacts
	// the slice, so remember the types in that order.
	var buf [8]string
	types := buf[:0]
	for _, id := range e.Identifiers {
		types = append(types, id.Type)
	}
	err := event.Prepare(e, lim)
	var es event.Errors
	if !errors.As(err, &es) {
		return err
	}
	out := make(event.Errors, len(es))
	for i, fe := range es {
		fe.Field = segmentField(fe.Field, e.Type, types)
		out[i] = fe
	}
	return out
}

// segmentField names the Segment field that an envelope field came from.
func segmentField(field string, typ event.Type, idTypes []string) string {
	switch field {
	case "event_id":
		return "messageId"
	case "event_time":
		return "timestamp"
	case "received_at":
		return "receivedAt"
	case "name":
		if typ == event.TypeTrack {
			return "event"
		}
		return "name"
	case "properties":
		if typ == event.TypeGroup {
			return "traits" // a group call's traits are its properties' "traits"
		}
		return field
	case "identifiers":
		// Map reports a message without identifiers itself; what remains is
		// too many of them, and only externalIds can make that many.
		return "context.externalIds"
	}
	rest, ok := strings.CutPrefix(field, "identifiers[")
	if !ok {
		return field
	}
	n, _, ok := strings.Cut(rest, "]")
	i, err := strconv.Atoi(n)
	if !ok || err != nil || i < 0 || i >= len(idTypes) {
		return field
	}
	return idField(idTypes[i])
}

// idField names the Segment field that carries identifiers of a type.
func idField(typ string) string {
	switch typ {
	case event.IDUserID:
		return "userId"
	case event.IDAnonymousID:
		return "anonymousId"
	case event.IDEmail:
		return "traits.email"
	case event.IDPhone:
		return "traits.phone"
	case event.IDDeviceID:
		return "context.device.id"
	}
	return "context.externalIds"
}

// IdentifierFields names the Segment fields that carried ids, in order and
// once each ("userId, anonymousId"), for an error about all of them.
func IdentifierFields(ids []event.Identifier) string {
	var names []string
	for _, id := range ids {
		if f := idField(id.Type); !slices.Contains(names, f) {
			names = append(names, f)
		}
	}
	return strings.Join(names, ", ")
}
