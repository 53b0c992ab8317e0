package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Decode parses one JSON envelope. Errors are Errors naming the field where
// the input went wrong. Decode does not validate or normalise: call Prepare.
func Decode(b []byte) (*Event, error) {
	if !utf8.Valid(b) {
		return nil, Errors{{Reason: "message is not valid UTF-8"}}
	}
	var e Event
	err := json.Unmarshal(b, &e)
	if len(e.TraitsIncrement) > 0 || (err != nil && !namesField(err)) {
		if errs := incrementErrors(b); len(errs) > 0 {
			return nil, errs
		}
	}
	if err != nil {
		return nil, jsonError(err)
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

// jsonError turns an encoding/json error from decoding an envelope into a
// field error.
func jsonError(err error) error {
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) {
		return Errors{{Field: "event_time/received_at", Reason: "timestamps must be RFC 3339, e.g. 2026-01-02T15:04:05.123Z"}}
	}
	return JSONErrors(err)
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
