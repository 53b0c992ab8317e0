package identity_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
)

const testKey = "0123456789abcdef0123456789abcdef"

func hashingPolicy(t *testing.T, key string, types ...string) *identity.Policy {
	t.Helper()
	r := identity.DefaultRules()
	for _, typ := range types {
		rule := r.Types[typ]
		rule.Hash = true
		r.Types[typ] = rule
	}
	r.HashKey = key
	p, err := r.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCanonicalHashesNormalisedValuesPerTenant(t *testing.T) {
	p := hashingPolicy(t, testKey, event.IDEmail, event.IDPhone)
	a, err := p.Canonical("acme", event.Identifier{Type: "email", Value: " Jane@Example.COM "})
	if err != nil {
		t.Fatal(err)
	}
	if !identity.IsHashed(a.Value) || a.Type != "email" || strings.Contains(a.Value, "jane") {
		t.Fatalf("canonical email = %v, want a hash", a)
	}
	b, _ := p.Canonical("acme", event.Identifier{Type: "email", Value: "jane@example.com"})
	if a != b {
		t.Errorf("one normalised value hashed two ways: %v and %v", a, b)
	}
	other, _ := p.Canonical("globex", event.Identifier{Type: "email", Value: "jane@example.com"})
	if other == a {
		t.Error("two tenants' hashes of one email are equal: tenants could be correlated")
	}
	asPhone, _ := p.Canonical("acme", event.Identifier{Type: "phone", Value: "+4915112345678"})
	asUser, _ := p.Canonical("acme", event.Identifier{Type: "user_id", Value: "+4915112345678"})
	if asUser.Value != "+4915112345678" {
		t.Errorf("user_id is not a hashed type, yet it became %q", asUser.Value)
	}
	if !identity.IsHashed(asPhone.Value) {
		t.Errorf("phone = %q, want a hash", asPhone.Value)
	}
	// A hash given back (copied from ClickHouse or a profile) is the same
	// identifier, not hashed again.
	if again, err := p.Canonical("acme", a); err != nil || again != a {
		t.Errorf("Canonical(hash) = %v, %v; want it unchanged", again, err)
	}
	// Another key, other hashes.
	q := hashingPolicy(t, strings.Repeat("k", 40), event.IDEmail)
	if c, _ := q.Canonical("acme", event.Identifier{Type: "email", Value: "jane@example.com"}); c == a || !identity.IsHashed(c.Value) {
		t.Error("two keys hashed alike")
	}
	if _, err := p.Canonical("acme", event.Identifier{Type: "email", Value: "not an email"}); err == nil {
		t.Error("an invalid email was hashed instead of refused")
	}
}

func TestPseudonymizeLeavesBlockedAndUnhashedTypes(t *testing.T) {
	p := hashingPolicy(t, testKey, event.IDEmail, event.IDAnonymousID)
	ids := []event.Identifier{
		{Type: "email", Value: "jane@example.com"},
		{Type: "email", Value: "test@example.com"}, // blocked
		{Type: "anonymous_id", Value: "undefined"}, // blocked everywhere
		{Type: "anonymous_id", Value: "a-1"},
		{Type: "user_id", Value: "u-1"},
	}
	p.Pseudonymize("acme", ids)
	want := []bool{true, false, false, true, false}
	for i, id := range ids {
		if identity.IsHashed(id.Value) != want[i] {
			t.Errorf("ids[%d] = %v, hashed should be %v", i, id, want[i])
		}
	}
	if !p.Blocked(ids[1]) || !p.Blocked(ids[2]) {
		t.Error("blocked values are no longer recognised as blocked")
	}
	if p.Blocked(ids[0]) || p.Blocked(ids[3]) {
		t.Error("a hashed value counts as blocked")
	}
	before := ids[0]
	p.Pseudonymize("acme", ids)
	if ids[0] != before {
		t.Error("Pseudonymize hashed a hash again")
	}
	// Without hashed types nothing changes.
	plain := identity.MustCompile(identity.DefaultRules())
	ids2 := []event.Identifier{{Type: "email", Value: "jane@example.com"}}
	plain.Pseudonymize("acme", ids2)
	if ids2[0].Value != "jane@example.com" || plain.HashesAny() {
		t.Errorf("a policy without hashed types changed %v", ids2)
	}
}

func TestHashedTypesNeedAKey(t *testing.T) {
	r := identity.DefaultRules()
	rule := r.Types[event.IDEmail]
	rule.Hash = true
	r.Types[event.IDEmail] = rule
	for _, key := range []string{"", "short"} {
		r.HashKey = key
		_, err := r.Compile()
		if err == nil || !strings.Contains(err.Error(), "identity.types.email.hash") || !strings.Contains(err.Error(), identity.HashKeyEnv) {
			t.Errorf("key %q: err = %v, want one naming identity.types.email.hash and %s", key, err, identity.HashKeyEnv)
		}
		if err != nil && key != "" && strings.Contains(err.Error(), key) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
}

func TestIsHashed(t *testing.T) {
	p := hashingPolicy(t, testKey, event.IDEmail)
	h, _ := p.Canonical("t", event.Identifier{Type: "email", Value: "a@b.co"})
	for v, want := range map[string]bool{
		h.Value:                        true,
		"hmac-sha256:":                 false,
		h.Value + "x":                  false,
		h.Value[:len(h.Value)-1] + "!": false,
		strings.ToUpper(h.Value[:12]) + h.Value[12:]: false,
		"a@b.co": false,
	} {
		if identity.IsHashed(v) != want {
			t.Errorf("IsHashed(%q) = %v, want %v", v, !want, want)
		}
	}
}

func TestPseudonymizeEventScrubsRepeatedIdentifiers(t *testing.T) {
	p := hashingPolicy(t, testKey, event.IDEmail, event.IDPhone, event.IDUserID)
	e := &event.Event{
		Tenant: "acme",
		Identifiers: []event.Identifier{{Type: "email", Value: "jane@example.com"}, {Type: "phone", Value: "+4915112345678"},
			{Type: "user_id", Value: "u-1"}, {Type: "anonymous_id", Value: "anon-1"}},
		Traits: map[string]json.RawMessage{"email": json.RawMessage(`" Jane@Example.COM"`), "name": json.RawMessage(`"Jane"`),
			"other_email": json.RawMessage(`"someone@else.com"`), "ids": json.RawMessage(`["u-1", 7]`)},
		TraitsSetOnce: map[string]json.RawMessage{"first_phone": json.RawMessage(`"+49 151 12345678"`)},
		Properties:    json.RawMessage(`{"big": 12345678901234567890, "by": "u-1", "note": "anon-1"}`),
		Context:       json.RawMessage(`{"traits": {"phone": "+4915112345678"}, "externalIds": [{"id": "jane@example.com", "type": "email"}]}`),
	}
	p.PseudonymizeEvent(e)
	h := func(typ, v string) string {
		id, err := p.Canonical("acme", event.Identifier{Type: typ, Value: v})
		if err != nil {
			t.Fatal(err)
		}
		return id.Value
	}
	email, phone, user := h("email", "jane@example.com"), h("phone", "+4915112345678"), h("user_id", "u-1")
	want := []event.Identifier{{Type: "email", Value: email}, {Type: "phone", Value: phone}, {Type: "user_id", Value: user},
		{Type: "anonymous_id", Value: "anon-1"}} // anonymous_id is not hashed here
	for i := range want {
		if e.Identifiers[i] != want[i] {
			t.Errorf("identifier %d = %v, want %v", i, e.Identifiers[i], want[i])
		}
	}
	for k, v := range map[string]string{"email": `"` + email + `"`, "name": `"Jane"`, "other_email": `"someone@else.com"`,
		"ids": `["` + user + `",7]`} {
		if got := string(e.Traits[k]); got != v {
			t.Errorf("traits.%s = %s, want %s", k, got, v)
		}
	}
	if got := string(e.TraitsSetOnce["first_phone"]); got != `"`+phone+`"` {
		t.Errorf("traits_set_once.first_phone = %s, want the phone's hash", got)
	}
	if got, want := string(e.Properties), `{"big":12345678901234567890,"by":"`+user+`","note":"anon-1"}`; got != want {
		t.Errorf("properties = %s, want %s (numbers exact)", got, want)
	}
	if got, want := string(e.Context), `{"externalIds":[{"id":"`+email+`","type":"email"}],"traits":{"phone":"`+phone+`"}}`; got != want {
		t.Errorf("context = %s, want %s", got, want)
	}

	// Nothing hashed: the event is left alone, byte for byte.
	plain := identity.MustCompile(identity.DefaultRules())
	ctx := `{"z": 1, "a": "jane@example.com"}`
	e2 := &event.Event{Tenant: "acme", Identifiers: []event.Identifier{{Type: "email", Value: "jane@example.com"}}, Context: json.RawMessage(ctx)}
	plain.PseudonymizeEvent(e2)
	if string(e2.Context) != ctx || e2.Identifiers[0].Value != "jane@example.com" {
		t.Errorf("a policy without hashed types changed the event: %+v", e2)
	}
}
