package event

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Identifier types with a default normalisation (DefaultNorm) or a default
// rule. Any other type matching typePattern is accepted and only trimmed,
// unless an identity rule says otherwise.
const (
	IDUserID      = "user_id"
	IDEmail       = "email"
	IDPhone       = "phone"
	IDAnonymousID = "anonymous_id"
	IDDeviceID    = "device_id"
)

// Normalisations of identifier values (NormalizeAs).
const (
	// NormEmail trims, lower-cases and requires local@domain.
	NormEmail = "email"
	// NormPhone requires E.164: "+" and 8 to 15 digits; spaces, dots,
	// dashes and parentheses are removed and a leading "00" becomes "+".
	NormPhone = "phone"
	// NormLower trims and lower-cases (case-insensitive ids such as
	// hexadecimal device ids).
	NormLower = "lower"
	// NormTrim only trims surrounding white space (case-sensitive ids).
	NormTrim = "trim"
)

// DefaultNorm is the normalisation of an identifier type that no rule
// configures: email for "email", phone for "phone", trim for the rest.
func DefaultNorm(typ string) string {
	switch typ {
	case IDEmail:
		return NormEmail
	case IDPhone:
		return NormPhone
	}
	return NormTrim
}

// Normalize returns the canonical form of an identifier value of the given
// type under the default normalisation of the type (DefaultNorm), so that
// the same person's identifier always compares equal.
func Normalize(typ, value string) (string, error) {
	return NormalizeAs(DefaultNorm(typ), value)
}

// NormalizeAs returns value under the normalisation norm (NormEmail,
// NormPhone, NormLower or NormTrim). Every normalisation trims surrounding
// white space and rejects an empty result and control characters.
func NormalizeAs(norm, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", errors.New("empty value")
	}
	for _, r := range value {
		if unicode.IsControl(r) {
			return "", errors.New("must not contain control characters")
		}
	}
	switch norm {
	case NormEmail:
		return normalizeEmail(value)
	case NormPhone:
		return normalizePhone(value)
	case NormLower:
		return strings.ToLower(value), nil
	case NormTrim:
		return value, nil
	}
	return "", fmt.Errorf("unknown normalisation %q", norm)
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
