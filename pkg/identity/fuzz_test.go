package identity

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
)

// fuzzPolicy has the default rules plus a custom type of each normalisation
// and per-type blocked values and patterns, so that every branch of
// Normalize and Blocked is reachable.
func fuzzPolicy() *Policy {
	r := DefaultRules()
	r.Types["store_id"] = TypeRule{Priority: 60, Normalize: event.NormLower, Blocked: []string{"Demo"}, BlockedPatterns: []string{`tmp-\d+`}}
	r.Types["work_email"] = TypeRule{Priority: 85, Normalize: event.NormEmail, Blocked: []string{"Test@Corp.io"}}
	r.Types["fax"] = TypeRule{Priority: 10, Normalize: event.NormPhone, BlockedPatterns: []string{`\+1+`}}
	return MustCompile(r)
}

var fuzzTypes = []string{
	event.IDUserID, event.IDEmail, event.IDPhone, event.IDDeviceID, event.IDAnonymousID, "loyalty_id",
	"store_id", "work_email", "fax", "crm_id",
}

// FuzzPolicyNormalizeBlocked: Normalize and Blocked never panic, whatever
// the type and value; what Normalize accepts normalises to itself; Strongest
// never picks a blocked identifier and Usable splits without losing any.
func FuzzPolicyNormalizeBlocked(f *testing.F) {
	for i, s := range []string{
		"", " ", "null", " NULL ", "undefined", "0", "-1", "00000000-0000-0000-0000-000000000000", "xxxx",
		"test@test.com", " Test@Test.COM", "+1 111 111 1111", "+11111111111", "0049 151 23456789",
		"jane@example.com", "u-42", "AB12CD34", "demo", "tmp-7", "a\x00b", "\xff", "İ", "[object Object]",
	} {
		f.Add(uint8(i), s)
	}
	p := fuzzPolicy()
	f.Fuzz(func(t *testing.T, ti uint8, value string) {
		typ := fuzzTypes[int(ti)%len(fuzzTypes)]
		raw := event.Identifier{Type: typ, Value: value}
		p.Blocked(raw) // also on values that were never normalised
		v, err := p.Normalize(typ, value)
		if err != nil {
			return
		}
		again, err := p.Normalize(typ, v)
		if err != nil || again != v {
			t.Fatalf("Normalize(%s, %q) = %q, but again %q, %v", typ, value, v, again, err)
		}
		id := event.Identifier{Type: typ, Value: v}
		blocked := p.Blocked(id)
		list := []event.Identifier{id, raw, {Type: event.IDAnonymousID, Value: "a-1"}}
		if s, ok := p.Strongest(list); !ok || p.Blocked(s) {
			t.Fatalf("Strongest(%v) = %v, %v", list, s, ok)
		} else if !blocked && p.Less(id, s) {
			t.Fatalf("Strongest(%v) = %v, but %v is usable and stronger", list, s, id)
		}
		usable, dropped := p.Usable(list)
		if len(usable)+len(dropped) != len(list) || slices.Contains(dropped, id) != blocked {
			t.Fatalf("Usable(%v) = %v, %v; %v blocked: %v", list, usable, dropped, id, blocked)
		}
	})
}

// FuzzPseudonymizeEvent: whatever JSON the context holds, the event's
// pseudonymisation never panics, leaves valid JSON, and leaves no string in
// it that normalises to the event's hashed email.
func FuzzPseudonymizeEvent(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"traits":{"email":"Jane@Example.com"}}`, `[" jane@example.com ",1e400,{"a":[null,true,"x"]}]`,
		`"jane@example.com"`, `{"n":12345678901234567890123,"s":"\u00e9\ud83d\ude00"}`, `{"a":{"b":{"c":["JANE@EXAMPLE.COM"]}}}`,
	} {
		f.Add(s)
	}
	r := DefaultRules()
	rule := r.Types[event.IDEmail]
	rule.Hash = true
	r.Types[event.IDEmail] = rule
	r.HashKey = "fuzz-key-0123456789abcdef0123456789"
	p := MustCompile(r)
	f.Fuzz(func(t *testing.T, ctx string) {
		if !json.Valid([]byte(ctx)) {
			return
		}
		e := &event.Event{Tenant: "t", Identifiers: []event.Identifier{{Type: event.IDEmail, Value: "jane@example.com"}},
			Context: json.RawMessage(ctx)}
		p.PseudonymizeEvent(e)
		if !IsHashed(e.Identifiers[0].Value) {
			t.Fatalf("identifier not hashed: %v", e.Identifiers[0])
		}
		if !json.Valid(e.Context) {
			t.Fatalf("context %q became invalid JSON %q", ctx, e.Context)
		}
		dec := json.NewDecoder(bytes.NewReader(e.Context))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				if n, err := p.Normalize(event.IDEmail, x); err == nil && n == "jane@example.com" {
					t.Fatalf("context %q keeps the raw email in %q", ctx, e.Context)
				}
			case []any:
				for _, y := range x {
					walk(y)
				}
			case map[string]any:
				for _, y := range x {
					walk(y)
				}
			}
		}
		walk(v)
	})
}
