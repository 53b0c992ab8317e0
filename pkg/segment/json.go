package segment

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The JSON values of traits and preferences are read where they lie: a
// path inside one is followed by skipping over the bytes of the members
// and elements it does not take, so that reading traits.address.city or
// testing traits.tags for an element decodes nothing but the value found.
// The values come from rendered profiles and are valid JSON; on invalid
// JSON the reading stops with a missing value, and never panics.

// jsonValue reads the value at rest inside a JSON value: object keys (the
// last of duplicates, as encoding/json does) and array indices (items.0).
func jsonValue(raw []byte, rest []string) value {
	v := trimSpace(raw)
	for _, k := range rest {
		var ok bool
		if v, ok = jsonAt(v, k); !ok {
			return value{}
		}
	}
	return jsonScalar(v)
}

// jsonScalar reads a JSON value that is not followed: null is missing, an
// array is kept raw, an object is only an object.
func jsonScalar(v []byte) value {
	v = trimSpace(v)
	if len(v) == 0 {
		return value{}
	}
	switch c := v[0]; {
	case c == 'n':
		return value{}
	case c == 't' || c == 'f':
		return value{kind: kindBool, b: c == 't'}
	case c == '[':
		return value{kind: kindArray, raw: v}
	case c == '{':
		return value{kind: kindObject}
	case c == '"':
		if plainString(v) {
			return value{kind: kindText, text: v[1 : len(v)-1]}
		}
		if s, ok := jsonString(v); ok {
			return value{kind: kindText, str: s}
		}
		return value{}
	}
	n, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return value{}
	}
	return value{kind: kindNumber, num: n}
}

// jsonString decodes a JSON string, without encoding/json when it has no
// escapes.
func jsonString(v []byte) (string, bool) {
	if plainString(v) {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

// jsonAt is the member k of an object, or the element k of an array.
func jsonAt(v []byte, k string) ([]byte, bool) {
	var found []byte
	switch {
	case len(v) > 0 && v[0] == '{':
		ok := eachMember(v, func(key, val []byte) bool {
			if keyIs(key, k) {
				found = val // the last one wins
			}
			return true
		})
		return found, ok && found != nil
	case len(v) > 0 && v[0] == '[':
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 {
			return nil, false
		}
		n := 0
		eachElement(v, func(e []byte) bool {
			if n == i {
				found = e
				return false
			}
			n++
			return true
		})
		return found, found != nil
	}
	return nil, false
}

// plainString reports whether v is a JSON string whose bytes between the
// quotes are its text: valid UTF-8 without escapes.
func plainString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return utf8.Valid(v)
}

func keyIs(key []byte, k string) bool {
	if plainString(key) {
		return string(key[1:len(key)-1]) == k
	}
	s, ok := jsonString(key)
	return ok && s == k
}

// eachMember calls f with each key (quoted) and value of an object until
// f returns false; it reports whether the object was well formed as far
// as it was read.
func eachMember(v []byte, f func(key, val []byte) bool) bool {
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == '}' {
		return true
	}
	for i < len(v) {
		if v[i] != '"' {
			return false
		}
		ke := skipString(v, i)
		if ke < 0 {
			return false
		}
		key := v[i:ke]
		i = skipSpace(v, ke)
		if i >= len(v) || v[i] != ':' {
			return false
		}
		vs := skipSpace(v, i+1)
		ve := skipValue(v, vs)
		if ve < 0 {
			return false
		}
		if !f(key, v[vs:ve]) {
			return true
		}
		i = skipSpace(v, ve)
		switch {
		case i < len(v) && v[i] == ',':
			i = skipSpace(v, i+1)
		case i < len(v) && v[i] == '}':
			return true
		default:
			return false
		}
	}
	return false
}

// eachElement calls f with each element of an array until f returns false.
func eachElement(v []byte, f func(e []byte) bool) {
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return
	}
	for i < len(v) {
		e := skipValue(v, i)
		if e < 0 || !f(v[i:e]) {
			return
		}
		i = skipSpace(v, e)
		if i >= len(v) || v[i] != ',' {
			return
		}
		i = skipSpace(v, i+1)
	}
}

// skipValue returns the end of the value starting at i, or -1.
func skipValue(v []byte, i int) int {
	if i >= len(v) {
		return -1
	}
	switch v[i] {
	case '"':
		return skipString(v, i)
	case '{', '[':
		depth := 0
		for i < len(v) {
			switch v[i] {
			case '"':
				if i = skipString(v, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	j := i
	for j < len(v) && v[j] != ',' && v[j] != ']' && v[j] != '}' && !isSpace(v[j]) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// skipString returns the end of the string starting at i, or -1.
func skipString(v []byte, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func skipSpace(v []byte, i int) int {
	for i < len(v) && isSpace(v[i]) {
		i++
	}
	return i
}

func trimSpace(v []byte) []byte {
	v = v[skipSpace(v, 0):]
	for len(v) > 0 && isSpace(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	return v
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
