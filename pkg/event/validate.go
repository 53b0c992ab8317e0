package event

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError says which field of an event is wrong and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Errors is every problem found in one event. It is returned as an error by
// Decode and Validate; callers that report problems field by field (the HTTP
// collector, the dead-letter headers) range over it.
type Errors []FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (es *Errors) add(field, format string, args ...any) {
	*es = append(*es, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// AllBlocked is the reason given for an event whose identifiers are all
// blocked values under the identity rules.
const AllBlocked = "every identifier is a blocked value that identifies nobody (such as \"undefined\", \"null\" or an all-zero id)"

// Limits bounds what an event may contain.
type Limits struct {
	// MaxFuture is how far past its received_at an event_time may lie (clock
	// skew of a device).
	MaxFuture time.Duration `yaml:"max_future"`
	// MaxPast is how far before its received_at an event_time may lie
	// (backfills older than this are rejected as mistakes).
	MaxPast time.Duration `yaml:"max_past"`
	// MaxIdentifiers is the most identifiers one event may carry.
	MaxIdentifiers int `yaml:"max_identifiers"`
	// Normalize normalises an identifier value of a type; nil means
	// Normalize (the default per type). The identity rules set it
	// (identity.Policy.Normalize) so that configured normalisations apply.
	Normalize func(typ, value string) (string, error) `yaml:"-" json:"-"`
}

// DefaultLimits allows a day of clock skew into the future, ten years of
// backfill and 32 identifiers per event.
func DefaultLimits() Limits {
	return Limits{MaxFuture: 24 * time.Hour, MaxPast: 10 * 365 * 24 * time.Hour, MaxIdentifiers: 32}
}

const (
	maxIDLen    = 128
	maxNameLen  = 256
	maxValueLen = 256
	maxTraitKey = 128
)

var (
	tenantPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	channelPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	typePattern    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// Prepare normalises the event's identifiers in place (dropping exact
// duplicates) and validates the result. Every stage that accepts events from
// outside calls it, so the collector and the resolver judge input alike.
func Prepare(e *Event, lim Limits) error {
	var errs Errors
	ids := e.Identifiers[:0]
	seen := make(map[Identifier]bool, len(e.Identifiers))
	for i, id := range e.Identifiers {
		field := func() string { return fmt.Sprintf("identifiers[%d]", i) } // only for errors
		if !validName(id.Type, 32) {
			errs.add(field()+".type", "must match %s", typePattern)
			continue
		}
		norm := Normalize
		if lim.Normalize != nil {
			norm = lim.Normalize
		}
		v, err := norm(id.Type, id.Value)
		if err != nil {
			errs.add(field()+".value", "%s %v", id.Type, err)
			continue
		}
		if len(v) > maxValueLen || !utf8.ValidString(v) {
			errs.add(field()+".value", "must be valid UTF-8 of at most %d bytes", maxValueLen)
			continue
		}
		if strings.ContainsRune(v, utf8.RuneError) {
			// JSON decoding turns every invalid or lone-surrogate escape into
			// U+FFFD: two different ids would become one and join two people.
			errs.add(field()+".value", "must not contain U+FFFD (an invalid or lone-surrogate escape)")
			continue
		}
		id.Value = v
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	e.Identifiers = ids
	validateFields(e, lim, &errs)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func validateFields(e *Event, lim Limits, errs *Errors) {
	switch {
	case e.EventID == "":
		errs.add("event_id", "required")
	case len(e.EventID) > maxIDLen || !utf8.ValidString(e.EventID):
		errs.add("event_id", "must be valid UTF-8 of at most %d bytes", maxIDLen)
	}
	if !ValidTenant(e.Tenant) {
		errs.add("tenant", "required, must match %s", tenantPattern)
	}
	if !ValidChannel(e.Channel) {
		errs.add("channel", "required, must match %s", channelPattern)
	}
	if !e.Type.Known() {
		errs.add("type", "must be one of track, identify, page, screen, alias, group (got %q)", e.Type)
	}
	if e.Type == TypeTrack && e.Name == "" {
		errs.add("name", "required for track events")
	}
	if len(e.Name) > maxNameLen {
		errs.add("name", "at most %d bytes", maxNameLen)
	}
	validateTimes(e, lim, errs)
	if len(e.Identifiers) == 0 {
		errs.add("identifiers", "at least one valid identifier is required (user_id, anonymous_id, email, phone, device_id, ...)")
	}
	if lim.MaxIdentifiers > 0 && len(e.Identifiers) > lim.MaxIdentifiers {
		errs.add("identifiers", "at most %d identifiers per event", lim.MaxIdentifiers)
	}
	badName, deep := false, false
	for k, v := range e.Traits {
		badName = badName || !validTraitName(k)
		deep = deep || deeper(v, MaxDepth-2) // the envelope's object and the traits object
	}
	if badName {
		errs.add("traits", "trait names must be 1 to %d bytes", maxTraitKey)
	}
	validateTraitOps(e, errs)
	if len(e.Properties) > 0 && !isObject(e.Properties) {
		errs.add("properties", "must be a JSON object")
	}
	if len(e.Context) > 0 && !isObject(e.Context) {
		errs.add("context", "must be a JSON object")
	}
	validateDepth(e, deep, errs)
}

// MaxDepth is how deeply encoding/json, which every stage decodes with,
// lets a JSON document nest. An envelope nested deeper cannot be decoded
// by the resolver.
const MaxDepth = 10000

// validateDepth rejects values that would nest the encoded envelope more
// than MaxDepth levels deep (deepTraits: a trait value does). A value can
// be within the limit in the message it came from and beyond it in the
// envelope: a group call's traits become properties.traits, a channel
// record's field a trait.
func validateDepth(e *Event, deepTraits bool, errs *Errors) {
	const why = "nested more than %d levels deep in the envelope, which JSON decoders refuse"
	if deeper(e.Properties, MaxDepth-1) { // the envelope's object is one level
		errs.add("properties", why, MaxDepth)
	}
	if deeper(e.Context, MaxDepth-1) {
		errs.add("context", why, MaxDepth)
	}
	if deepTraits {
		errs.add("traits", why, MaxDepth)
	}
	if deeperValue(e.TraitsSetOnce, MaxDepth-2) {
		errs.add("traits_set_once", why, MaxDepth)
	}
}

// deeperValue reports whether a value of m nests more than limit levels
// deep.
func deeperValue(m map[string]json.RawMessage, limit int) bool {
	for _, v := range m {
		if deeper(v, limit) {
			return true
		}
	}
	return false
}

// deeper reports whether the JSON value raw nests more than limit levels
// deep.
func deeper(raw []byte, limit int) bool {
	if len(raw) < 2*(limit+1) { // every level opens and closes a bracket
		return false
	}
	depth, inString, escaped := 0, false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > limit {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

func validateTimes(e *Event, lim Limits, errs *Errors) {
	if e.ReceivedAt.IsZero() {
		errs.add("received_at", "required")
	}
	if e.EventTime.IsZero() {
		errs.add("event_time", "required")
		return
	}
	if e.EventTime.Year() < 2000 {
		errs.add("event_time", "must not be before the year 2000")
		return
	}
	if e.ReceivedAt.IsZero() {
		return
	}
	if lim.MaxFuture > 0 && e.EventTime.Sub(e.ReceivedAt) > lim.MaxFuture {
		errs.add("event_time", "more than %s after received_at", lim.MaxFuture)
	}
	if lim.MaxPast > 0 && e.ReceivedAt.Sub(e.EventTime) > lim.MaxPast {
		errs.add("event_time", "more than %s before received_at", lim.MaxPast)
	}
}

func isObject(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// ValidTenant reports whether s is a well-formed tenant name.
func ValidTenant(s string) bool {
	if len(s) == 0 || len(s) > 64 || !lowerOrDigit(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !lowerOrDigit(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidChannel reports whether s is a well-formed channel name.
func ValidChannel(s string) bool { return validName(s, 32) }

// ValidIdentifierType reports whether s is a well-formed identifier type.
func ValidIdentifierType(s string) bool { return validName(s, 32) }

// validName matches ^[a-z][a-z0-9_]{0,max-1}$ (channelPattern and
// typePattern, with max 32) without the regexp machinery.
func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !lowerOrDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

func lowerOrDigit(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// Name rules, for error messages that say what a valid name looks like.
const (
	TenantRule  = "lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 64 characters"
	ChannelRule = "lower-case letters, digits and '_', starting with a letter, at most 32 characters"
)
