package event

import (
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
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, jsonError(err)
	}
	return &e, nil
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
