package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A record's data is what encoding/json decodes with UseNumber: objects
// are map[string]any, arrays []any, numbers json.Number, and strings,
// booleans and nil.

// exprKind is where a value comes from.
type exprKind int

const (
	fromField exprKind = iota
	fromLiteral
	fromTemplate
)

// expr is a compiled ValueSpec.
type expr struct {
	kind     exprKind
	path     []string // fromField
	src      string   // the field path or template as written, for errors
	literal  any      // fromLiteral
	template []tmplPart

	mapping    map[string]any // nil: no map
	hasDefault bool
	def        any
	required   bool
	transforms []func(string) string
	as         string
	layout     string
	loc        *time.Location
	minor      int
	min, max   *float64
}

// tmplPart is a piece of a template: literal text, or a field's text.
type tmplPart struct {
	text string
	path []string
	src  string
}

// valueError is a problem with one value; field is the record field it
// came from.
type valueError struct {
	field  string
	reason string
	kind   error // errTemplateField, or nil
}

func (e *valueError) Error() string { return e.field + ": " + e.reason }
func (e *valueError) Unwrap() error { return e.kind }

// errTemplateField marks a template whose field is missing: its default,
// if any, stands in.
var errTemplateField = errors.New("template field missing")

// eval computes the value of x for the record data. ok is false when the
// value is missing (absent, null or an empty string) and has no default;
// a required value is then an error.
func (x *expr) eval(data any) (v any, ok bool, err error) {
	switch x.kind {
	case fromLiteral:
		v = x.literal
	case fromTemplate:
		s, err := x.render(data)
		switch {
		case errors.Is(err, errTemplateField) && x.hasDefault:
			v = nil // a field is missing: the default stands in
		case err != nil:
			return nil, false, err
		default:
			v = s
		}
	default:
		v = lookup(data, x.path)
	}
	if !missing(v) {
		// A value that transforms make empty (a handle of just "@") is
		// missing too.
		if v, err = x.refine(v); err != nil {
			return nil, false, err
		}
	}
	if missing(v) {
		if !x.hasDefault {
			if x.required {
				return nil, false, &valueError{x.src, "required but missing", nil}
			}
			return nil, false, nil
		}
		v = x.def
	}
	if v, err = x.convert(v); err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// refine applies the transforms and the map to a value that is present.
func (x *expr) refine(v any) (any, error) {
	if len(x.transforms) > 0 {
		s, err := text(v)
		if err != nil {
			return nil, &valueError{x.src, err.Error(), nil}
		}
		for _, t := range x.transforms {
			s = t(s)
		}
		v = s
	}
	if x.mapping == nil {
		return v, nil
	}
	s, err := text(v)
	if err != nil {
		return nil, &valueError{x.src, err.Error(), nil}
	}
	if m, ok := x.mapping[s]; ok {
		return m, nil
	}
	if x.hasDefault {
		return x.def, nil
	}
	keys := make([]string, 0, len(x.mapping))
	for k := range x.mapping {
		keys = append(keys, strconv.Quote(k))
	}
	slices.Sort(keys)
	return nil, &valueError{x.src, fmt.Sprintf("%s is not one of %s", quoteCut(s), strings.Join(keys, ", ")), nil}
}

// text evaluates x as a text (a name, an event id, an identifier): ok is
// false when it is missing.
func (x *expr) text(data any) (string, bool, error) {
	v, ok, err := x.eval(data)
	if err != nil || !ok {
		return "", ok, err
	}
	s, err := text(v)
	if err != nil {
		return "", false, &valueError{x.src, err.Error(), nil}
	}
	return s, true, nil
}

// render fills in a template; every field it names must be present.
func (x *expr) render(data any) (string, error) {
	var b strings.Builder
	for _, p := range x.template {
		if p.path == nil {
			b.WriteString(p.text)
			continue
		}
		v := lookup(data, p.path)
		if missing(v) {
			return "", &valueError{p.src, fmt.Sprintf("required by the template %q but missing", x.src), errTemplateField}
		}
		s, err := text(v)
		if err != nil {
			return "", &valueError{p.src, err.Error(), nil}
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// convert applies As and MinorUnits.
func (x *expr) convert(v any) (any, error) {
	var err error
	switch x.as {
	case "", "json":
		return v, nil
	case "string":
		var s string
		if s, err = text(v); err == nil {
			return s, nil
		}
	case "number", "integer":
		var n json.Number
		if n, err = number(v, x.as == "integer"); err == nil && x.minor > 0 {
			n, err = shift(n, x.minor)
		}
		if err == nil {
			err = x.bounds(n)
		}
		if err == nil {
			return n, nil
		}
	case "boolean":
		var b bool
		if b, err = boolean(v); err == nil {
			return b, nil
		}
	case "time":
		var t time.Time
		if t, err = x.parseTime(v); err == nil {
			return t, nil
		}
	}
	return nil, &valueError{x.src, err.Error(), nil}
}

// lookup follows a dot path through objects and arrays; nil when any step
// is missing. A key that itself contains dots is found too ("a.b" in
// {"a.b": 1}) when the plain key is not.
func lookup(v any, path []string) any {
	for i := 0; i < len(path); i++ {
		switch t := v.(type) {
		case map[string]any:
			found := false
			for j := i + 1; j <= len(path); j++ {
				key := path[i]
				if j > i+1 {
					key = strings.Join(path[i:j], ".")
				}
				if next, ok := t[key]; ok {
					v, i, found = next, j-1, true
					break
				}
			}
			if !found {
				return nil
			}
		case []any:
			n, err := strconv.Atoi(path[i])
			if err != nil || n < 0 || n >= len(t) {
				return nil
			}
			v = t[n]
		default:
			return nil
		}
	}
	return v
}

// missing reports whether a value counts as absent: nil, or an empty or
// blank string (a CSV cell left empty, a form field not filled in).
func missing(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(t) == ""
	}
	return false
}

// text is the text of a scalar; objects and arrays have none.
func text(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	case nil:
		return "", nil
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano), nil
	case map[string]any:
		return "", fmt.Errorf("is an object, not a text")
	case []any:
		return "", fmt.Errorf("is an array, not a text")
	}
	return "", fmt.Errorf("has no text form (%T)", v)
}

// jsonNumber is the grammar of a JSON number.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// number reads a JSON number or a string holding one ("12.50"), exactly
// as written.
func number(v any, integer bool) (json.Number, error) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	default:
		s2, err := text(v)
		if err != nil {
			return "", err
		}
		return "", fmt.Errorf("%s is not a number", quoteCut(s2))
	}
	if !jsonNumber.MatchString(s) {
		return "", fmt.Errorf("%s is not a number (write it like 12.50)", quoteCut(s))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return "", fmt.Errorf("%s is out of range", quoteCut(s))
	}
	if integer && (strings.ContainsAny(s, ".eE") && f != math.Trunc(f) || math.Abs(f) > 1<<53) {
		return "", fmt.Errorf("%s is not an integer", quoteCut(s))
	}
	if integer && strings.ContainsAny(s, ".eE") {
		s = strconv.FormatFloat(f, 'f', 0, 64)
	}
	return json.Number(s), nil
}

// shift divides an integer amount in minor units by 10^digits, exactly:
// 1999 with 2 digits is 19.99.
func shift(n json.Number, digits int) (json.Number, error) {
	s := n.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if strings.ContainsAny(s, ".eE") {
		return "", fmt.Errorf("%s is not a whole number of minor units", quoteCut(n.String()))
	}
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	whole, frac := s[:len(s)-digits], strings.TrimRight(s[len(s)-digits:], "0")
	out := whole
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return json.Number(out), nil
}

// bounds checks a number against Min and Max.
func (x *expr) bounds(n json.Number) error {
	f, _ := strconv.ParseFloat(n.String(), 64)
	if x.min != nil && f < *x.min || x.max != nil && f > *x.max {
		f := func(p *float64) string { return strconv.FormatFloat(*p, 'f', -1, 64) }
		switch {
		case x.max == nil:
			return fmt.Errorf("%s is less than %s", n, f(x.min))
		case x.min == nil:
			return fmt.Errorf("%s is more than %s", n, f(x.max))
		}
		return fmt.Errorf("%s is not between %s and %s", n, f(x.min), f(x.max))
	}
	return nil
}

func boolean(v any) (bool, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case json.Number:
		switch t.String() {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "yes", "y", "1":
			return true, nil
		case "false", "no", "n", "0":
			return false, nil
		}
	}
	s, _ := text(v)
	return false, fmt.Errorf("%s is not a boolean (true, false, yes, no, 1, 0)", quoteCut(s))
}

// parseTime reads a time in the expression's layout.
func (x *expr) parseTime(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		return t, nil
	}
	s, err := text(v)
	if err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	switch x.layout {
	case "", "rfc3339":
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time such as 2026-03-01T12:00:00Z", quoteCut(s))
		}
		return t.UTC(), nil
	case "unix", "unix_ms":
		n, err := number(v, false)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not a Unix time in %s", quoteCut(s), unitOf(x.layout))
		}
		f, _ := strconv.ParseFloat(n.String(), 64)
		if x.layout == "unix_ms" {
			f /= 1000
		}
		if f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("%s is out of range for a Unix time in %s", quoteCut(s), unitOf(x.layout))
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), nil
	}
	t, err := time.ParseInLocation(x.layout, s, x.loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s does not match the layout %q", quoteCut(s), x.layout)
	}
	return t.UTC(), nil
}

func unitOf(layout string) string {
	if layout == "unix_ms" {
		return "milliseconds"
	}
	return "seconds"
}

// quoteCut quotes a value for an error message, cut to 40 bytes so that
// errors stay short and do not repeat whole payloads.
func quoteCut(s string) string {
	const max = 40
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// transforms are the text transformations a value may name.
var transforms = map[string]func(string) string{
	"trim":  strings.TrimSpace,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"strip_at": func(s string) string {
		return strings.TrimPrefix(strings.TrimSpace(s), "@")
	},
	"digits": func(s string) string {
		var b strings.Builder
		for i, r := range strings.TrimSpace(s) {
			if unicode.IsDigit(r) || (r == '+' && i == 0) {
				b.WriteRune(r)
			}
		}
		return b.String()
	},
}
