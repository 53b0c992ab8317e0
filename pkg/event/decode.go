package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Decode parses one JSON envelope. Errors are Errors naming the field where
// the input went wrong. Decode does not validate or normalise: call Prepare.
func Decode(b []byte) (*Event, error) {
	if !utf8.Valid(b) {
		return nil, Errors{FindBadUTF8(b)[0].FieldError("message")}
	}
	var e Event
	err := json.Unmarshal(b, &e)
	if len(e.TraitsIncrement) > 0 || (err != nil && !namesField(err)) {
		if errs := incrementErrors(b); len(errs) > 0 {
			return nil, errs
		}
	}
	if err != nil {
		return nil, jsonError(b, err)
	}
	return &e, nil
}

// namesField reports whether jsonError can say where a decoding error is.
func namesField(err error) bool {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
		timeErr   *time.ParseError
	)
	return errors.As(err, &typeErr) || errors.As(err, &syntaxErr) || errors.As(err, &timeErr)
}

// incrementErrors reports the values of the envelope's traits_increment that
// are not JSON numbers. encoding/json decodes a quoted number ("5") or null
// into a json.Number, and fails without naming the field on any other
// string; Decode looks at the values again when there are increments or
// such an error, so that they are numbers as the schema says.
func incrementErrors(b []byte) Errors {
	var w struct {
		Increment map[string]json.RawMessage `json:"traits_increment"`
	}
	if json.Unmarshal(b, &w) != nil {
		return nil
	}
	var errs Errors
	for k, v := range w.Increment {
		if len(v) == 0 || !(v[0] == '-' || isDigit(v[0])) {
			errs.add("traits_increment."+k, "must be a JSON number, got JSON %s", RawKind(v))
		}
	}
	sortByField(errs)
	return errs
}

// RawKind names the JSON type of a raw value (string, object, array,
// boolean, null, number; "nothing" if empty), for error messages.
func RawKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// DecodePrepared decodes, normalises and validates one envelope: what a
// consumer of cx.interactions does with each message.
func DecodePrepared(b []byte, lim Limits) (*Event, error) {
	e, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if err := Prepare(e, lim); err != nil {
		return nil, err
	}
	return e, nil
}

// Encode renders the event as its canonical JSON envelope.
func Encode(e *Event) ([]byte, error) { return json.Marshal(e) }

// jsonError turns an encoding/json error from decoding envelope b into
// field errors. time.Time reports a timestamp that is not an RFC 3339
// string without naming its field (and one that is not a string with a
// plain error), so the time fields are looked at again.
func jsonError(b []byte, err error) error {
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) || !namesField(err) {
		if errs := timeErrors(b); len(errs) > 0 {
			return errs
		}
	}
	if timeErr != nil {
		return Errors{{Field: "event_time/received_at", Reason: "must be an RFC 3339 time string, e.g. 2026-01-02T15:04:05.123Z"}}
	}
	return JSONErrors(err)
}

// timeFields are the envelope's time.Time fields, in the order their errors
// are reported.
var timeFields = []string{"event_time", "received_at"}

// timeErrors reports the time fields of the envelope that time.Time does not
// decode: values that are not strings, and strings that are not RFC 3339.
// Keys match as encoding/json matches them, case-insensitively.
func timeErrors(b []byte) Errors {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return nil
	}
	var errs Errors
	for _, field := range timeFields {
		for k, v := range top {
			if !strings.EqualFold(k, field) {
				continue
			}
			var t time.Time
			if t.UnmarshalJSON(bytes.TrimSpace(v)) == nil {
				continue
			}
			if kind := RawKind(v); kind != "string" {
				errs.add(field, "must be an RFC 3339 time string, got JSON %s", kind)
			} else {
				errs.add(field, "must be an RFC 3339 time string, e.g. 2026-01-02T15:04:05.123Z")
			}
			break
		}
	}
	return errs
}

// BadUTF8 is a byte of a JSON text that is not valid UTF-8.
type BadUTF8 struct {
	// Offset is the number of bytes before it.
	Offset int
	// Key is the key of the member of the top-level object that holds the
	// byte (in its value); "" when the text is not an object, or the byte is
	// in a key or between members.
	Key string
}

// FieldError reports b as a problem of the field Key, or of the whole text
// (called what: "message", "batch body") when there is no key.
func (b BadUTF8) FieldError(what string) FieldError {
	if b.Key == "" {
		return FieldError{Reason: fmt.Sprintf("%s is not valid UTF-8 at byte %d", what, b.Offset)}
	}
	return FieldError{Field: b.Key, Reason: fmt.Sprintf("not valid UTF-8 at byte %d of the %s", b.Offset, what)}
}

// FindBadUTF8 returns the first byte of b that is not valid UTF-8 in each
// member of b's top-level object, in order (with no Key when it is in the
// member's key), or only the first such byte of b when b is not an object
// or the byte is outside the object. It returns nothing when b is valid
// UTF-8. b need not be valid JSON: the scan follows strings and nesting only
// as far as it can.
func FindBadUTF8(b []byte) []BadUTF8 {
	var (
		out      []BadUTF8
		depth    int
		object   bool // b is an object
		inString bool
		escaped  bool
		inKey    bool // the string being read is a top-level key
		wantKey  bool // the next top-level string is a key
		keyStart int
		key      string
		reported bool // the current member has a BadUTF8
	)
	for i := 0; i < len(b); {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				switch {
				case !object || depth < 1:
					return append(out, BadUTF8{Offset: i})
				case !reported: // key is "" while inKey
					out = append(out, BadUTF8{Offset: i, Key: key})
					reported = true
				}
			}
			i += size
			continue
		}
		i++
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if inKey {
					inKey = false
					key = ""
					if json.Unmarshal(b[keyStart:i], &key) != nil {
						key = ""
					}
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			if depth == 1 && object && wantKey {
				inKey, wantKey, keyStart = true, false, i-1
			}
		case '{', '[':
			if depth == 0 && c == '{' {
				object, wantKey = true, true
			}
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 1 && object {
				wantKey, key, reported = true, "", false
			}
		}
	}
	return out
}

// JSONErrors turns an encoding/json error into field errors: a type error
// names the JSON path of the field, a syntax error the byte offset. Other
// decoders of external input (pkg/tracking) report the same way.
func JSONErrors(err error) Errors {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(root)"
		}
		return Errors{{Field: field, Reason: fmt.Sprintf("must be %s, got JSON %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}}
	case errors.As(err, &syntaxErr):
		return Errors{{Reason: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)}}
	}
	return Errors{{Reason: "malformed JSON: " + err.Error()}}
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "int", "int64", "float64", "uint64":
		return "a number"
	}
	return "a " + k
}
