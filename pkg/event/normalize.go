package event

import (
	"errors"
	"strings"
	"unicode"
)

// Identifier types with built-in normalisation. Any other type matching
// typePattern is accepted and only trimmed.
const (
	IDUserID      = "user_id"
	IDEmail       = "email"
	IDPhone       = "phone"
	IDAnonymousID = "anonymous_id"
	IDDeviceID    = "device_id"
)

// Normalize returns the canonical form of an identifier value of the given
// type, so that the same person's identifier always compares equal:
//   - email: trimmed and lower-cased; must look like local@domain;
//   - phone: E.164, "+" and 8 to 15 digits; spaces, dots, dashes and
//     parentheses are removed and a leading "00" becomes "+";
//   - anything else: surrounding white space trimmed.
func Normalize(typ, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", errors.New("empty value")
	}
	switch typ {
	case IDEmail:
		return normalizeEmail(value)
	case IDPhone:
		return normalizePhone(value)
	}
	return value, nil
}

func normalizeEmail(v string) (string, error) {
	v = strings.ToLower(v)
	at := strings.IndexByte(v, '@')
	if at <= 0 || at != strings.LastIndexByte(v, '@') || at == len(v)-1 {
		return "", errors.New("email must look like local@domain")
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", errors.New("email must not contain white space or control characters")
		}
	}
	return v, nil
}

func normalizePhone(v string) (string, error) {
	var b strings.Builder
	b.Grow(len(v))
	for i, r := range v {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", errors.New("phone may contain only digits, a leading +, spaces, dots, dashes and parentheses")
		}
	}
	s := b.String()
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") {
		return "", errors.New("phone must be in international format: +<country code><number> or 00<country code><number>")
	}
	digits := len(s) - 1
	if digits < 8 || digits > 15 || s[1] == '0' {
		return "", errors.New("phone must have 8 to 15 digits after + and a country code not starting with 0 (E.164)")
	}
	return s, nil
}
