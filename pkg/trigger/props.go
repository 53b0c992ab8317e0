package trigger

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// These read event properties the way pkg/profile reads them, so that a
// trigger sees the values the profile shows.

func objectOf(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func stringOf(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// numberOf returns a JSON number (not a numeric string) that is finite.
func numberOf(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !(raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// amountOf returns a number or a numeric string, as the profile reads
// order amounts.
func amountOf(raw json.RawMessage) (float64, bool) {
	if s, ok := stringOf(raw); ok {
		raw = json.RawMessage(strings.TrimSpace(s))
	}
	f, ok := numberOf(raw)
	if !ok || math.Abs(f) >= 1e12 {
		return 0, false
	}
	return f, true
}

// textOf returns a string, or a number as written (ticket ids).
func textOf(raw json.RawMessage) string {
	if s, ok := stringOf(raw); ok {
		return strings.TrimSpace(s)
	}
	if _, ok := numberOf(raw); ok {
		return string(bytes.TrimSpace(raw))
	}
	return ""
}

// maxText is how many characters of feedback text, or of a ticket
// subject, an alert carries.
const maxText = 1000

// truncate cuts s after n characters (runes); it reports whether it cut.
// Invalid UTF-8 counts one character per byte.
func truncate(s string, n int) (string, bool) {
	i := 0
	for k := 0; k < n; k++ {
		if i >= len(s) {
			return s, false
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i >= len(s) {
		return s, false
	}
	return s[:i], true
}
