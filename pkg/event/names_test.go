package event

import (
	"strings"
	"testing"
)

// The hand-written name checks match the patterns they stand for.
func TestNameChecksMatchPatterns(t *testing.T) {
	alphabet := []string{"", "a", "z", "0", "9", "_", "-", "A", "é", ".", " ", "\n", "\xff"}
	var names []string
	for _, a := range alphabet {
		for _, b := range alphabet {
			for _, c := range alphabet {
				names = append(names, a+b+c)
			}
		}
	}
	for _, n := range []int{31, 32, 33, 63, 64, 65} {
		names = append(names, strings.Repeat("a", n), "0"+strings.Repeat("a", n-1), "a"+strings.Repeat("_", n-1), strings.Repeat("a", n-1)+"-")
	}
	for _, s := range names {
		if got, want := ValidTenant(s), tenantPattern.MatchString(s); got != want {
			t.Errorf("ValidTenant(%q) = %v, pattern says %v", s, got, want)
		}
		if got, want := ValidChannel(s), channelPattern.MatchString(s); got != want {
			t.Errorf("ValidChannel(%q) = %v, pattern says %v", s, got, want)
		}
		if got, want := ValidIdentifierType(s), typePattern.MatchString(s); got != want {
			t.Errorf("ValidIdentifierType(%q) = %v, pattern says %v", s, got, want)
		}
	}
}

func FuzzNameChecks(f *testing.F) {
	f.Add("acme-1")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidTenant(s) != tenantPattern.MatchString(s) || ValidChannel(s) != channelPattern.MatchString(s) ||
			ValidIdentifierType(s) != typePattern.MatchString(s) {
			t.Errorf("%q: name checks differ from the patterns", s)
		}
	})
}
