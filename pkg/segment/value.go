package segment

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// kind is the kind of a value read from a profile; the zero kind is a
// missing value (absent or null in the JSON form).
type kind uint8

const (
	kindMissing kind = iota
	kindNumber
	kindText
	kindBool
	kindTime    // a time.Time field; texts in RFC 3339 are times too
	kindStrings // a []string field
	kindArray   // a JSON array, in raw
	kindObject
)

// value is a field's value in a profile.
type value struct {
	kind kind
	num  float64
	str  string
	// text is a text read from JSON, in place of str: comparing it with a
	// literal allocates nothing.
	text []byte
	b    bool
	t    time.Time
	strs []string
	raw  []byte // a JSON array
}

// isText reports whether a text value equals s.
func (v value) isText(s string) bool {
	if v.text != nil {
		return string(v.text) == s
	}
	return v.str == s
}

// literal is a constant of a condition.
type literal struct {
	kind   kind // kindNumber, kindText or kindBool
	num    float64
	str    string
	b      bool
	isTime bool // a text in RFC 3339, also compared as a time
	t      time.Time
}

// newLiteral reads a literal as decoded from YAML (or given in Go).
func newLiteral(x any) (literal, error) {
	switch x := x.(type) {
	case string:
		l := literal{kind: kindText, str: x}
		l.t, l.isTime = parseTime(x)
		return l, nil
	case bool:
		return literal{kind: kindBool, b: x}, nil
	case time.Time:
		// A YAML timestamp decoded outside Cond.UnmarshalYAML, or a time
		// given in Go.
		s := x.Format(time.RFC3339Nano)
		return literal{kind: kindText, str: s, isTime: true, t: x}, nil
	case nil:
		return literal{}, fmt.Errorf("null is not a value (to test a missing field, write exists: false)")
	}
	var n float64
	switch x := x.(type) {
	case int:
		n = float64(x)
	case int8:
		n = float64(x)
	case int16:
		n = float64(x)
	case int32:
		n = float64(x)
	case int64:
		n = float64(x)
	case uint:
		n = float64(x)
	case uint8:
		n = float64(x)
	case uint16:
		n = float64(x)
	case uint32:
		n = float64(x)
	case uint64:
		n = float64(x)
	case float32:
		n = float64(x)
	case float64:
		n = x
	default:
		return literal{}, fmt.Errorf("%s is not a number, text or boolean", describe(x))
	}
	if math.IsNaN(n) {
		return literal{}, fmt.Errorf("NaN is not a value")
	}
	return literal{kind: kindNumber, num: n}, nil
}

// String shows a literal as it could be written.
func (l literal) String() string {
	switch l.kind {
	case kindNumber:
		return strconv.FormatFloat(l.num, 'g', -1, 64)
	case kindBool:
		return strconv.FormatBool(l.b)
	}
	return strconv.Quote(l.str)
}

// typ is the field type a literal can be equal to.
func (l literal) typ() fieldType {
	switch {
	case l.kind == kindNumber:
		return typeNumber
	case l.kind == kindBool:
		return typeBool
	case l.isTime:
		return typeTime
	}
	return typeText
}

func describe(x any) string {
	switch x.(type) {
	case map[string]any, map[any]any:
		return "a map"
	case []any:
		return "a list"
	}
	s := fmt.Sprintf("%v", x)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%s (%T)", s, x)
}

// parseTime reads a text in RFC 3339.
func parseTime(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || !strings.ContainsAny(s[10:11], "Tt") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// timeOf is a value as a time: a time field, or a text in RFC 3339.
func (v value) timeOf() (time.Time, bool) {
	switch v.kind {
	case kindTime:
		return v.t, true
	case kindText:
		if v.text != nil {
			return parseTime(string(v.text))
		}
		return parseTime(v.str)
	}
	return time.Time{}, false
}

// equal reports whether a value equals a literal: numbers as numbers,
// booleans as booleans, texts as texts, and times (time fields, texts in
// RFC 3339) as instants when the literal is a time.
func equal(v value, l literal) bool {
	switch v.kind {
	case kindNumber:
		return l.kind == kindNumber && v.num == l.num
	case kindBool:
		return l.kind == kindBool && v.b == l.b
	case kindText:
		if l.kind != kindText {
			return false
		}
		if l.isTime {
			// A text that is not a time cannot equal one that is.
			t, ok := v.timeOf()
			return ok && t.Equal(l.t)
		}
		return v.isText(l.str)
	case kindTime:
		return l.isTime && v.t.Equal(l.t)
	}
	return false
}

// compare orders a value against a number or time literal; ok is false
// when they are not of one kind.
func compare(v value, l literal) (c int, ok bool) {
	if l.kind == kindNumber {
		if v.kind != kindNumber {
			return 0, false
		}
		return cmp.Compare(v.num, l.num), true
	}
	t, ok := v.timeOf()
	if !ok || !l.isTime {
		return 0, false
	}
	return t.Compare(l.t), true
}

// contains reports whether an array value has an element equal to l.
func contains(v value, l literal) bool {
	switch v.kind {
	case kindStrings:
		for _, s := range v.strs {
			if equal(value{kind: kindText, str: s}, l) {
				return true
			}
		}
	case kindArray:
		found := false
		eachElement(v.raw, func(e []byte) bool {
			found = equal(jsonScalar(e), l)
			return !found
		})
		return found
	}
	return false
}

// parseDuration reads a Go duration (720h, 90m) or days with an optional
// Go duration after them (30d, 1d12h). It must be positive and at most
// maxDays.
func parseDuration(s string) (time.Duration, error) {
	const maxDays = 36500
	bad := fmt.Errorf("%q is not a duration: write hours and minutes as Go does (720h, 90m) or days (30d, 1d12h)", s)
	var d time.Duration
	if days, rest, ok := strings.Cut(s, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" {
		n, err := strconv.Atoi(days)
		if err != nil || n > maxDays {
			return 0, fmt.Errorf("%q is longer than %dd", s, maxDays)
		}
		d = time.Duration(n) * 24 * time.Hour
		if rest != "" {
			r, err := time.ParseDuration(rest)
			if err != nil || r < 0 {
				return 0, bad
			}
			d += r
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 || d > maxDays*24*time.Hour {
		return 0, fmt.Errorf("%q must be positive and at most %dd", s, maxDays)
	}
	return d, nil
}
