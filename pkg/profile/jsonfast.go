package profile

import (
	"encoding/json"
	"unicode/utf8"
)

// Fast paths for the JSON the fold reads most: objects of properties and
// context, plain strings, and the stamped values this package writes. Each
// gives exactly what encoding/json gives, and hands anything unusual
// (escapes, invalid UTF-8, whitespace where the fast path expects none) to
// encoding/json. fastjson_test.go checks them against it.

// plainString returns the contents of raw if raw is a JSON string that
// needs no unquoting: no escape, no control character, valid UTF-8. ok is
// false otherwise (raw may still be a string; ask encoding/json).
func plainString(raw []byte) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	in := raw[1 : n-1]
	ascii := true
	for _, c := range in {
		if c == '"' || c == '\\' || c < ' ' {
			return "", false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// unquote decodes a JSON string as json.Unmarshal into a string does; ok
// is false if raw is not one.
func unquote(raw []byte) (string, bool) {
	if s, ok := plainString(raw); ok {
		return s, true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// decodeObject is json.Unmarshal of raw, which must open with '{', into a
// map[string]json.RawMessage; nil if that fails. The values share raw's
// bytes.
func decodeObject(raw []byte) map[string]json.RawMessage {
	if !json.Valid(raw) {
		return nil
	}
	// raw is one valid JSON object, with maybe whitespace around it.
	m := map[string]json.RawMessage{}
	i := skipSpace(raw, 0) + 1 // past '{'
	for {
		i = skipSpace(raw, i)
		if raw[i] == '}' {
			return m
		}
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		end := stringEnd(raw, i)
		key, ok := plainString(raw[i:end])
		if !ok {
			if json.Unmarshal(raw[i:end], &key) != nil {
				return slowObject(raw)
			}
		}
		i = skipSpace(raw, end)
		i = skipSpace(raw, i+1) // past ':'
		vend := valueEnd(raw, i)
		m[key] = json.RawMessage(raw[i:vend:vend])
		i = vend
	}
}

func slowObject(raw []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the valid JSON string that opens at i.
func stringEnd(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// valueEnd returns the index after the valid JSON value that opens at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// splitStamped splits what follows the stamp of a value this package
// wrote, [channel,event id,value] with plain strings and no whitespace
// between the elements, into its parts; ok is false for anything else.
func splitStamped(v string) (channel, eventID string, value []byte, ok bool) {
	b := []byte(v)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' || b[1] != '"' {
		return "", "", nil, false
	}
	end := plainEnd(b, 1)
	if end < 0 || end >= len(b) || b[end] != ',' {
		return "", "", nil, false
	}
	if channel, ok = plainString(b[1:end]); !ok {
		return "", "", nil, false
	}
	start := end + 1
	if start >= len(b) || b[start] != '"' {
		return "", "", nil, false
	}
	end = plainEnd(b, start)
	if end < 0 || end >= len(b) || b[end] != ',' {
		return "", "", nil, false
	}
	if eventID, ok = plainString(b[start:end]); !ok {
		return "", "", nil, false
	}
	value = b[end+1 : len(b)-1]
	if len(value) == 0 || skipSpace(value, 0) != 0 || isSpace(value[len(value)-1]) || !json.Valid(value) {
		return "", "", nil, false
	}
	return channel, eventID, value, true
}

// plainEnd returns the index after the string opening at i if it has no
// escape, or -1.
func plainEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			return -1
		case '"':
			return i + 1
		}
	}
	return -1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
