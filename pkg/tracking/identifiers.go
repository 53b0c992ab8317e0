package tracking

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cxstream/cxstream/pkg/event"
)

// personTraits are the identifying traits of the person a message is about.
type personTraits struct {
	Email json.RawMessage `json:"email"`
	Phone json.RawMessage `json:"phone"`
}

// contextIDs are the parts of context that identify the person.
type contextIDs struct {
	Traits personTraits `json:"traits"`
	Device struct {
		ID json.RawMessage `json:"id"`
	} `json:"device"`
	ExternalIDs []externalID `json:"externalIds"`
}

// externalID is one entry of context.externalIds; collection and encoding
// are Segment's bookkeeping and not needed here.
type externalID struct {
	ID   json.RawMessage `json:"id"`
	Type json.RawMessage `json:"type"`
}

func readContext(raw json.RawMessage, errs *event.Errors) contextIDs {
	var c contextIDs
	if isNull(raw) {
		return c
	}
	if !isObject(raw) {
		addErr(errs, "context", "must be a JSON object")
		return c
	}
	decodeAt(raw, &c, "context", errs)
	return c
}

func readPersonTraits(raw json.RawMessage, errs *event.Errors) personTraits {
	var t personTraits
	if isNull(raw) {
		return t
	}
	if !isObject(raw) {
		addErr(errs, "traits", "must be a JSON object")
		return t
	}
	decodeAt(raw, &t, "traits", errs)
	return t
}

// readIdentifyTraits decodes an identify call's traits, which become the
// envelope's traits, and picks the identifying ones out of them.
func readIdentifyTraits(raw json.RawMessage, errs *event.Errors) (map[string]json.RawMessage, personTraits) {
	if isNull(raw) {
		return nil, personTraits{}
	}
	var traits map[string]json.RawMessage
	if !isObject(raw) || json.Unmarshal(raw, &traits) != nil {
		addErr(errs, "traits", "must be a JSON object")
		return nil, personTraits{}
	}
	return traits, personTraits{Email: traits["email"], Phone: traits["phone"]}
}

// decodeAt decodes raw into v and reports a type error under the given
// field prefix ("context.device.id").
func decodeAt(raw json.RawMessage, v any, prefix string, errs *event.Errors) {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return
	}
	fes, ok := jsonError(err).(event.Errors)
	if !ok {
		addErr(errs, prefix, "%v", err)
		return
	}
	for _, fe := range fes {
		if fe.Field == "" || fe.Field == "(root)" {
			fe.Field = prefix
		} else {
			fe.Field = prefix + "." + fe.Field
		}
		*errs = append(*errs, fe)
	}
}

// identifiers collects the person's identifiers in a fixed order, each
// normalised (event.Normalize) and without duplicates, so that event.Prepare
// later finds nothing to change in them. Errors name the Segment field the
// value came from.
func identifiers(m *Message, pt personTraits, ctx contextIDs, errs *event.Errors) []event.Identifier {
	before := len(*errs)
	ids := make([]event.Identifier, 0, 4+len(ctx.ExternalIDs))
	add := func(typ, field string, raw json.RawMessage) {
		v := idText(raw, field, errs)
		if v == "" {
			return
		}
		norm, err := event.Normalize(typ, v)
		if err != nil {
			addErr(errs, field, "%v", err)
			return
		}
		id := event.Identifier{Type: typ, Value: norm}
		for _, have := range ids {
			if have == id {
				return
			}
		}
		ids = append(ids, id)
	}
	add(event.IDUserID, "userId", m.UserID)
	add(event.IDAnonymousID, "anonymousId", m.AnonymousID)
	add(event.IDAnonymousID, "previousId", m.PreviousID)
	if !isNull(pt.Email) {
		add(event.IDEmail, "traits.email", pt.Email)
	} else {
		add(event.IDEmail, "context.traits.email", ctx.Traits.Email)
	}
	if !isNull(pt.Phone) {
		add(event.IDPhone, "traits.phone", pt.Phone)
	} else {
		add(event.IDPhone, "context.traits.phone", ctx.Traits.Phone)
	}
	add(event.IDDeviceID, "context.device.id", ctx.Device.ID)
	for i, x := range ctx.ExternalIDs {
		field := fmt.Sprintf("context.externalIds[%d]", i)
		typ := strings.ToLower(idText(x.Type, field+".type", errs))
		if !event.ValidIdentifierType(typ) {
			addErr(errs, field+".type", "must be 1 to 32 letters, digits and underscores, starting with a letter")
			continue
		}
		add(typ, field+".id", x.ID)
	}
	if len(ids) == 0 && len(*errs) == before {
		addErr(errs, "userId", "userId or anonymousId is required (or traits.email, traits.phone, context.device.id, context.externalIds)")
	}
	return ids
}

// idText returns an identifier's value as text: strings trimmed, numbers as
// their decimal text (clients often send numeric user ids), "" for absent,
// null and blank values. Other JSON types, and strings holding U+FFFD, are an
// error naming field.
func idText(raw json.RawMessage, field string, errs *event.Errors) string {
	s := trimSpace(raw)
	if len(s) == 0 {
		return ""
	}
	switch c := s[0]; {
	case c == 'n':
		return ""
	case c == '"':
		var v string
		if err := json.Unmarshal(s, &v); err != nil {
			addErr(errs, field, "must be a string or a number")
			return ""
		}
		// encoding/json decodes a lone surrogate ("\ud800", "\udbff") to
		// U+FFFD: two different ids would become one and merge two people.
		if strings.ContainsRune(v, utf8.RuneError) {
			addErr(errs, field, "must not contain U+FFFD (an invalid or lone-surrogate escape)")
			return ""
		}
		return strings.TrimSpace(v)
	case c == '-' || (c >= '0' && c <= '9'):
		v, err := numberText(s)
		if err != nil {
			addErr(errs, field, "%v", err)
		}
		return v
	case c == 't' || c == 'f':
		addErr(errs, field, "must be a string or a number, got JSON boolean")
	case c == '{':
		addErr(errs, field, "must be a string or a number, got JSON object")
	default:
		addErr(errs, field, "must be a string or a number, got JSON array")
	}
	return ""
}

// numberText renders a JSON number as decimal text: integers digit for digit
// (so ids beyond 2^53 keep every digit), others without an exponent
// (1.5e3 -> "1500").
func numberText(s []byte) (string, error) {
	integer := true
	for i, c := range s {
		if !(c >= '0' && c <= '9') && !(i == 0 && c == '-') {
			integer = false
			break
		}
	}
	if integer {
		return string(s), nil
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return "", fmt.Errorf("number %s is out of range", s)
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// validIDType reports whether typ is a valid identifier type: the pattern
// ^[a-z][a-z0-9_]{0,31}$ of pkg/event, which does not export it.
