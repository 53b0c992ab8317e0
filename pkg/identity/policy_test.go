package identity

import (
	"slices"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
)

func ids(ss ...string) []event.Identifier {
	out := make([]event.Identifier, len(ss))
	for i, s := range ss {
		id, ok := event.ParseIdentifier(s)
		if !ok {
			panic("bad identifier " + s)
		}
		out[i] = id
	}
	return out
}

func strs(ids []event.Identifier) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func TestStrongestAndSort(t *testing.T) {
	p := MustCompile(DefaultRules())
	in := ids("anonymous_id:a", "phone:+4915112345678", "crm_id:c", "email:z@x.io",
		"device_id:d", "email:a@x.io", "loyalty_id:l", "zz_id:z", "user_id:u")
	// Priority first (user_id 100, email 90, phone 80, loyalty_id 70, types
	// without a rule 50, device_id 40, anonymous_id 30), then type name,
	// then value.
	want := []string{"user_id:u", "email:a@x.io", "email:z@x.io", "phone:+4915112345678",
		"loyalty_id:l", "crm_id:c", "zz_id:z", "device_id:d", "anonymous_id:a"}

	if got, ok := p.Strongest(in); !ok || got.String() != want[0] {
		t.Errorf("Strongest = %s, %v; want %s", got, ok, want[0])
	}
	sorted := slices.Clone(in)
	p.Sort(sorted)
	if got := strs(sorted); !slices.Equal(got, want) {
		t.Errorf("Sort = %v\nwant %v", got, want)
	}
	// The order is total: any permutation sorts the same.
	rev := slices.Clone(in)
	slices.Reverse(rev)
	p.Sort(rev)
	if got := strs(rev); !slices.Equal(got, want) {
		t.Errorf("Sort of the reversed input = %v\nwant %v", got, want)
	}
	for i := range want {
		for j := range want {
			if got := p.Less(sorted[i], sorted[j]); got != (i < j) {
				t.Errorf("Less(%s, %s) = %v", sorted[i], sorted[j], got)
			}
		}
	}

	if _, ok := p.Strongest(nil); ok {
		t.Error("Strongest of no identifiers reported ok")
	}
}

func TestStrongestSkipsBlocked(t *testing.T) {
	p := MustCompile(DefaultRules())
	for _, tc := range []struct {
		in   []string
		want string // "" for none
	}{
		{[]string{"user_id:null", "email:jane@example.com", "anonymous_id:a"}, "email:jane@example.com"},
		{[]string{"user_id:undefined", "email:test@test.com", "phone:+11111111111", "anonymous_id:a-1"}, "anonymous_id:a-1"},
		{[]string{"user_id:0", "anonymous_id:00000000-0000-0000-0000-000000000000"}, ""},
		{[]string{"anonymous_id:a", "user_id:u-1"}, "user_id:u-1"},
		// Ties on priority: type name, then value.
		{[]string{"email:b@x.io", "email:a@x.io"}, "email:a@x.io"},
		{[]string{"zz_id:1", "crm_id:9"}, "crm_id:9"},
	} {
		got, ok := p.Strongest(ids(tc.in...))
		if tc.want == "" {
			if ok {
				t.Errorf("Strongest(%v) = %s; want none", tc.in, got)
			}
			continue
		}
		if !ok || got.String() != tc.want {
			t.Errorf("Strongest(%v) = %s, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestPriorityFollowsRules(t *testing.T) {
	r := DefaultRules()
	r.Types[event.IDEmail] = TypeRule{Priority: 200, Limit: 5}
	r.DefaultPriority = 10
	p := MustCompile(r)
	in := ids("user_id:u", "email:e@x.io", "crm_id:c", "anonymous_id:a")
	p.Sort(in)
	if got, want := strs(in), []string{"email:e@x.io", "user_id:u", "anonymous_id:a", "crm_id:c"}; !slices.Equal(got, want) {
		t.Errorf("Sort = %v, want %v", got, want)
	}
	if p.Priority("crm_id") != 10 || p.DefaultPriority() != 10 || p.Priority(event.IDEmail) != 200 {
		t.Errorf("Priority: crm_id %d, default %d, email %d", p.Priority("crm_id"), p.DefaultPriority(), p.Priority(event.IDEmail))
	}
	if got := p.Priorities(); got[event.IDEmail] != 200 || got[event.IDUserID] != 100 || len(got) != len(r.Types) {
		t.Errorf("Priorities = %v", got)
	}
}

func TestBlockedDefaults(t *testing.T) {
	p := MustCompile(DefaultRules())
	blocked := []string{
		"user_id:undefined", "user_id:Undefined", "user_id:NULL", "user_id:null", "user_id:Null",
		"user_id:nil", "user_id:None", "user_id:NaN", "user_id:n/a", "user_id:unknown",
		"anonymous_id:anonymous", "user_id:guest", "user_id:TEST", "user_id:true", "user_id:FALSE",
		"user_id:0", "user_id:-1", "crm_id:-1", "user_id:[object Object]", "user_id:{}", "user_id:[]",
		"anonymous_id:00000000-0000-0000-0000-000000000000", "device_id:00000000-0000-0000-0000-000000000000",
		"user_id:0000", "user_id:---", "user_id:xxxx", "user_id:x", "loyalty_id:xxxxxxxx",
		"email:test@test.com", "email:test@example.com", "email:a@a.com",
		"phone:+11111111111", "phone:+99999999", "phone:+1234567890", "phone:+123456789",
		// Global values are blocked for every type, configured or not.
		"email:null", "brand_new_id:undefined", "brand_new_id:0000",
	}
	for _, s := range blocked {
		if !p.Blocked(ids(s)[0]) {
			t.Errorf("%s not blocked", s)
		}
	}
	ordinary := []string{
		"user_id:u-42", "user_id:42", "user_id:10", "user_id:-2", "user_id:nullable", "user_id:testing",
		"user_id:none1", "user_id:xyz", "user_id:0x0", "user_id:00000000-0000-0000-0000-000000000001",
		"anonymous_id:a1b2c3d4-0000-0000-0000-000000000000", "device_id:ab12cd34",
		"email:jane.doe@example.com", "email:test@test.co", "email:null@example.com",
		"phone:+4915112345678", "phone:+14155552671", "phone:+11111111112",
		// Per-type values are blocked only for their type.
		"user_id:test@test.com", "crm_id:+11111111111",
	}
	for _, s := range ordinary {
		if p.Blocked(ids(s)[0]) {
			t.Errorf("%s blocked", s)
		}
	}
}

func TestBlockedCustom(t *testing.T) {
	r := DefaultRules()
	r.Blocked = []string{"  Void "}
	r.BlockedPatterns = []string{`abc\d+`}
	r.Types[event.IDPhone] = TypeRule{Priority: 80, Limit: 5, Blocked: []string{"+1 (415) 555-0000"}}
	r.Types["crm_id"] = TypeRule{Blocked: []string{"CRM-0"}, BlockedPatterns: []string{`tmp-.*`}}
	r.Types["store_id"] = TypeRule{Normalize: event.NormLower, Blocked: []string{"Demo-Store"}}
	p := MustCompile(r)
	for s, want := range map[string]bool{
		// Global values: trimmed and case-insensitive; the list replaces
		// the defaults.
		"user_id:void": true, "user_id:VOID": true, "user_id:null": false,
		// Global patterns: the whole value must match.
		"user_id:abc123": true, "user_id:abc": false, "user_id:xabc123": false, "user_id:abc123x": false,
		"user_id:xxxx": false,
		// Per-type values are normalised as the type is.
		"phone:+14155550000": true, "phone:+14155550001": false,
		"store_id:demo-store": true,
		// ... and otherwise compared exactly.
		"crm_id:CRM-0": true, "crm_id:crm-0": false,
		"crm_id:tmp-1": true, "crm_id:x-tmp-1": false, "user_id:tmp-1": false,
	} {
		if got := p.Blocked(ids(s)[0]); got != want {
			t.Errorf("Blocked(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestUsable(t *testing.T) {
	p := MustCompile(DefaultRules())
	in := ids("anonymous_id:a-1", "user_id:null", "email:jane@example.com", "phone:+11111111111",
		"device_id:ab12", "user_id:u-1", "anonymous_id:undefined")
	orig := slices.Clone(in)
	usable, blocked := p.Usable(in)
	if got, want := strs(usable), []string{"user_id:u-1", "email:jane@example.com", "device_id:ab12", "anonymous_id:a-1"}; !slices.Equal(got, want) {
		t.Errorf("usable = %v, want %v (strongest first)", got, want)
	}
	if got, want := strs(blocked), []string{"user_id:null", "phone:+11111111111", "anonymous_id:undefined"}; !slices.Equal(got, want) {
		t.Errorf("blocked = %v, want %v (input order)", got, want)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("Usable changed its input: %v", in)
	}
	if u, b := p.Usable(nil); len(u) != 0 || len(b) != 0 {
		t.Errorf("Usable(nil) = %v, %v", u, b)
	}
}

func TestNormalizePerType(t *testing.T) {
	r := DefaultRules()
	r.Types["store_id"] = TypeRule{Priority: 60, Normalize: event.NormLower}
	r.Types["work_email"] = TypeRule{Priority: 60, Normalize: event.NormEmail}
	r.Types["user_id"] = TypeRule{Priority: 100, Unique: true, Normalize: event.NormLower}
	p := MustCompile(r)
	for _, tc := range []struct {
		typ, in, want string
		err           bool
	}{
		{"device_id", " AB12-CD34 ", "ab12-cd34", false},        // lower by default rule
		{"store_id", "Store-HH-01", "store-hh-01", false},       // custom type, normalize: lower
		{"work_email", " Jane@Corp.IO ", "jane@corp.io", false}, // custom type, normalize: email
		{"work_email", "jane", "", true},
		{"user_id", " U-42 ", "u-42", false}, // a rule can change a default
		{"email", " Jane.Doe@Example.COM ", "jane.doe@example.com", false},
		{"email", "jane@", "", true},
		{"phone", "0049 (151) 123-45678", "+4915112345678", false},
		{"phone", "015112345678", "", true},
		{"anonymous_id", " A-1 ", "A-1", false}, // trim: case kept
		{"crm_id", " CRM-7 ", "CRM-7", false},   // no rule: trim
		{"crm_id", " \t ", "", true},
		{"crm_id", "a\x00b", "", true},
	} {
		got, err := p.Normalize(tc.typ, tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q, error %v", tc.typ, tc.in, got, err, tc.want, tc.err)
		}
	}
	// Without a rule the email and phone types keep their normalisation.
	r.Types = nil
	p = MustCompile(r)
	if got, _ := p.Normalize("email", "A@B.C"); got != "a@b.c" {
		t.Errorf("email without a rule normalised to %q", got)
	}
	if got, _ := p.Normalize("phone", "+1 415 555 2671"); got != "+14155552671" {
		t.Errorf("phone without a rule normalised to %q", got)
	}
	if got, _ := p.Normalize("device_id", "AB"); got != "AB" {
		t.Errorf("device_id without a rule normalised to %q, want trim only", got)
	}
}

func TestLimit(t *testing.T) {
	p := MustCompile(DefaultRules())
	for typ, want := range map[string]int{
		"user_id": 1, "email": 5, "phone": 5, "loyalty_id": 5, "device_id": 50, "anonymous_id": 500,
		"crm_id": 5, // no rule: default_limit
	} {
		if got := p.Limit(typ); got != want {
			t.Errorf("Limit(%s) = %d, want %d", typ, got, want)
		}
	}
	if p.DefaultLimit() != 5 || p.MaxIdentifiers() != 1000 {
		t.Errorf("DefaultLimit %d, MaxIdentifiers %d", p.DefaultLimit(), p.MaxIdentifiers())
	}

	r := DefaultRules()
	r.DefaultLimit = 7
	r.MaxIdentifiers = 20
	r.Types["crm_id"] = TypeRule{}             // limit 0: default_limit
	r.Types["tax_id"] = TypeRule{Unique: true} // unique: 1
	r.Types["acct_id"] = TypeRule{Unique: true, Limit: 1}
	r.Types["cookie_id"] = TypeRule{Limit: 1000}
	p = MustCompile(r)
	for typ, want := range map[string]int{"crm_id": 7, "other_id": 7, "tax_id": 1, "acct_id": 1, "cookie_id": 1000, "email": 5} {
		if got := p.Limit(typ); got != want {
			t.Errorf("Limit(%s) = %d, want %d", typ, got, want)
		}
	}
	if got := p.Limits(); got["crm_id"] != 7 || got["tax_id"] != 1 || got["user_id"] != 1 || len(got) != len(r.Types) {
		t.Errorf("Limits = %v", got)
	}
	if p.MaxIdentifiers() != 20 || !slices.Equal(p.Rules().Blocked, r.Blocked) {
		t.Error("policy does not keep its rules")
	}
}

func TestMustCompilePanicsOnBadRules(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	MustCompile(Rules{})
}
