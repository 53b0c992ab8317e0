package event

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestNormalizeAs(t *testing.T) {
	for _, tc := range []struct {
		norm, in, want string
		err            bool
	}{
		{NormEmail, "\tJane@Example.COM\n", "jane@example.com", false},
		{NormEmail, "jane@", "", true},
		{NormEmail, "jane@exa\u00a0mple.com", "", true}, // non-breaking space inside
		{NormPhone, "+49 151 2345-6789", "+4915123456789", false},
		{NormPhone, "(0049) 151/23456789", "+4915123456789", false},
		{NormPhone, "+0049 151 23456789", "", true},  // "+" and "00"
		{NormPhone, "+1234567", "", true},            // 7 digits
		{NormPhone, "+12345678", "+12345678", false}, // 8 digits
		{NormPhone, "+123456789012345", "+123456789012345", false},
		{NormPhone, "+1234567890123456", "", true}, // 16 digits
		{NormPhone, "1+4155552671", "", true},
		{NormLower, " AB12-CD34 ", "ab12-cd34", false},
		{NormLower, "ÄÖÜ", "äöü", false},
		{NormTrim, " AB12-CD34 ", "AB12-CD34", false},
		{NormTrim, "a\u200bb", "a\u200bb", false}, // a format character is no control character
		{NormTrim, "a\x7fb", "", true},
		{NormTrim, "a\u0085b", "", true}, // C1 control
		{NormTrim, "\u00a0\u3000", "", true},
		{"upper", "x", "", true},
		{"", "x", "", true},
	} {
		got, err := NormalizeAs(tc.norm, tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("NormalizeAs(%q, %q) = %q, %v; want %q, error %v", tc.norm, tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && err.Error() == "" {
			t.Errorf("NormalizeAs(%q, %q): empty error message", tc.norm, tc.in)
		}
	}
}

func TestDefaultNorm(t *testing.T) {
	for typ, want := range map[string]string{
		IDEmail: NormEmail, IDPhone: NormPhone, IDUserID: NormTrim, IDAnonymousID: NormTrim,
		IDDeviceID: NormTrim, "crm_id": NormTrim,
	} {
		if got := DefaultNorm(typ); got != want {
			t.Errorf("DefaultNorm(%s) = %s, want %s", typ, got, want)
		}
	}
}

// normSeeds are inputs every normalisation fuzzer starts from.
var normSeeds = []string{
	"", " ", "x", " Jane.Doe@Example.COM ", "a@b", "@b", "a@", "a@@b", "a@b@c", "jane doe@example.com",
	"+44 20 7946 0958", "0049 (151) 123-45678", "+1.415.555.2671", "+0123456789", "00", "+",
	"++4915112345678", "+49\u00a0151 2345678", "+١٢٣٤٥٦٧٨٩", "0000000000",
	" AB12-CD34 ", "İSTANBUL", "ǅ", "ΣΑΣ", "K", "\u00a0x\u00a0", "\u0085x", "x\u0085", "\u200bx",
	"a\x00b", "\xff", "a\xffb", "\xe2\x80", "\t\n\v\f\r ", "undefined", "00000000-0000-0000-0000-000000000000",
}

var phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// checkNormalized checks the properties every successful normalisation has:
// it is idempotent, has no control characters and no surrounding white
// space, keeps valid UTF-8 valid and is never empty.
func checkNormalized(t *testing.T, norm, in string) (string, bool) {
	t.Helper()
	out, err := NormalizeAs(norm, in)
	if err != nil {
		if out != "" || err.Error() == "" {
			t.Fatalf("NormalizeAs(%s, %q) = %q, %v: an error needs a message and no result", norm, in, out, err)
		}
		return "", false
	}
	if out == "" {
		t.Fatalf("NormalizeAs(%s, %q) accepted and returned empty", norm, in)
	}
	again, err := NormalizeAs(norm, out)
	if err != nil || again != out {
		t.Fatalf("not idempotent: %s(%q) = %q, but %s(%q) = %q, %v", norm, in, out, norm, out, again, err)
	}
	if strings.IndexFunc(out, unicode.IsControl) >= 0 {
		t.Fatalf("%s(%q) = %q has a control character", norm, in, out)
	}
	if strings.TrimSpace(out) != out {
		t.Fatalf("%s(%q) = %q has surrounding white space", norm, in, out)
	}
	if utf8.ValidString(in) && !utf8.ValidString(out) {
		t.Fatalf("%s(%q) = %q is not valid UTF-8", norm, in, out)
	}
	return out, true
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range normSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := checkNormalized(t, NormEmail, in)
		if !ok {
			return
		}
		at := strings.IndexByte(out, '@')
		if strings.Count(out, "@") != 1 || at == 0 || at == len(out)-1 {
			t.Fatalf("email %q from %q is not local@domain", out, in)
		}
		if strings.ToLower(out) != out {
			t.Fatalf("email %q from %q is not lower-case", out, in)
		}
		if strings.IndexFunc(out, unicode.IsSpace) >= 0 {
			t.Fatalf("email %q from %q has white space", out, in)
		}
		if out != strings.ToLower(strings.TrimSpace(in)) {
			t.Fatalf("email %q from %q is more than trimmed and lower-cased", out, in)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range normSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := checkNormalized(t, NormPhone, in)
		if !ok {
			return
		}
		if !phoneRE.MatchString(out) {
			t.Fatalf("phone %q from %q is not E.164 (%s)", out, in, phoneRE)
		}
		// Only separators are removed and a leading "00" turned into "+":
		// the digits stay as they were.
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, in)
		if !strings.HasPrefix(strings.TrimSpace(in), "+") {
			digits = strings.TrimPrefix(digits, "00")
		}
		if out[1:] != digits {
			t.Fatalf("phone %q from %q: digits changed (want %s)", out, in, digits)
		}
	})
}

func FuzzNormalizeLower(f *testing.F) {
	for _, s := range normSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := checkNormalized(t, NormLower, in)
		if ok && out != strings.ToLower(out) {
			t.Fatalf("lower %q from %q is not lower-case", out, in)
		}
	})
}

func FuzzNormalizeTrim(f *testing.F) {
	for _, s := range normSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := checkNormalized(t, NormTrim, in)
		if ok && out != strings.TrimSpace(in) {
			t.Fatalf("trim %q from %q changed more than surrounding white space", out, in)
		}
		// Trim accepts exactly what has something left and no control
		// character.
		trimmed := strings.TrimSpace(in)
		if want := trimmed != "" && strings.IndexFunc(trimmed, unicode.IsControl) < 0; ok != want {
			t.Fatalf("trim(%q) accepted %v, want %v", in, ok, want)
		}
	})
}
