package identity

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pkg/event"
)

func TestCandidateIDIsStable(t *testing.T) {
	a, b := CandidateID("acme", "e-1"), CandidateID("acme", "e-1")
	if a != b {
		t.Fatalf("not deterministic: %s %s", a, b)
	}
	if CandidateID("other", "e-1") == a || CandidateID("acme", "e-2") == a {
		t.Error("different tenant or event gave the same id")
	}
	if u, err := uuid.Parse(a); err != nil || u.Version() != 5 {
		t.Errorf("%s is not a UUID v5: %v", a, err)
	}
}

func TestDefaultRulesAreValid(t *testing.T) {
	if err := DefaultRules().Validate(); err != nil {
		t.Fatal(err)
	}
	// DefaultRules returns fresh copies: changing one must not change the
	// next (the configuration loader decodes YAML into them).
	r := DefaultRules()
	r.Types[event.IDEmail] = TypeRule{Priority: 1}
	r.Blocked[0] = "changed"
	if d := DefaultRules(); d.Types[event.IDEmail].Priority != 90 || d.Blocked[0] != DefaultBlocked[0] {
		t.Error("DefaultRules shares its map or slices between calls")
	}
}

// TestValidateNamesFieldAndReason: every bad setting is reported with the
// configuration key it sits at and why it is wrong.
func TestValidateNamesFieldAndReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Rules)
		want   []string // substrings of the error
	}{
		{"negative priority", func(r *Rules) { r.Types["crm_id"] = TypeRule{Priority: -1} },
			[]string{"identity.types.crm_id.priority", "must be >= 0", "-1"}},
		{"negative default priority", func(r *Rules) { r.DefaultPriority = -5 },
			[]string{"identity.default_priority", "must be >= 0", "-5"}},
		{"negative limit", func(r *Rules) { r.Types["crm_id"] = TypeRule{Priority: 1, Limit: -2} },
			[]string{"identity.types.crm_id.limit", "must be >= 0", "-2"}},
		{"unique with limit > 1", func(r *Rules) { r.Types[event.IDUserID] = TypeRule{Priority: 100, Unique: true, Limit: 3} },
			[]string{"identity.types.user_id", "unique means limit 1", "3"}},
		{"unknown normalisation", func(r *Rules) { r.Types["crm_id"] = TypeRule{Priority: 1, Normalize: "upper"} },
			[]string{"identity.types.crm_id.normalize", "email, phone, lower or trim", `"upper"`}},
		{"bad per-type regex", func(r *Rules) { r.Types["crm_id"] = TypeRule{Priority: 1, BlockedPatterns: []string{"ok", "a(b"}} },
			[]string{"identity.types.crm_id.blocked_patterns[1]", `"a(b"`, "not a valid regular expression"}},
		{"bad global regex", func(r *Rules) { r.BlockedPatterns = append(r.BlockedPatterns, "[z-a]") },
			[]string{"identity.blocked_patterns[2]", `"[z-a]"`, "not a valid regular expression"}},
		// A pattern that is only valid once wrapped in ^(?:...)$ is not a
		// valid regular expression either: wrapped, "x)|(y" would match
		// every value that starts with x.
		{"regex that escapes its anchors", func(r *Rules) { r.BlockedPatterns = []string{"x)|(y"} },
			[]string{"identity.blocked_patterns[0]", `"x)|(y"`, "not a valid regular expression"}},
		{"bad type name", func(r *Rules) { r.Types["Loyalty ID"] = TypeRule{Priority: 1} },
			[]string{"identity.types.Loyalty ID", "identifier type must be lower-case letters"}},
		{"type name with a dot", func(r *Rules) { r.Types["ios.id"] = TypeRule{Priority: 1} },
			[]string{"identity.types.ios.id", "identifier type"}},
		{"default_limit 0", func(r *Rules) { r.DefaultLimit = 0 },
			[]string{"identity.default_limit", "must be >= 1", "got 0"}},
		{"default_limit negative", func(r *Rules) { r.DefaultLimit = -1 },
			[]string{"identity.default_limit", "must be >= 1", "got -1"}},
		{"max_identifiers_per_profile 0", func(r *Rules) { r.MaxIdentifiers = 0 },
			[]string{"identity.max_identifiers_per_profile", "must be >= 1", "got 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := DefaultRules()
			tc.mutate(&r)
			err := r.Validate()
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if p, cerr := r.Compile(); p != nil || cerr == nil {
				t.Errorf("Compile = %v, %v; want nil and an error", p, cerr)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	r := DefaultRules()
	r.DefaultLimit = 0
	r.MaxIdentifiers = 0
	r.Types["a_id"] = TypeRule{Priority: -1, Limit: -1}
	r.Types["b_id"] = TypeRule{Normalize: "soundex"}
	err := r.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"identity.default_limit", "identity.max_identifiers_per_profile",
		"identity.types.a_id.priority", "identity.types.a_id.limit", "identity.types.b_id.normalize"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %s:\n%v", w, err)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Rules)
	}{
		{"unique with limit 1", func(r *Rules) { r.Types[event.IDUserID] = TypeRule{Priority: 100, Unique: true, Limit: 1} }},
		{"priority 0", func(r *Rules) { r.Types["crm_id"] = TypeRule{} }},
		{"no types", func(r *Rules) { r.Types = nil }},
		{"no blocked values", func(r *Rules) { r.Blocked, r.BlockedPatterns = nil, nil }},
		{"every normalisation", func(r *Rules) {
			for _, n := range []string{event.NormEmail, event.NormPhone, event.NormLower, event.NormTrim} {
				r.Types["x_"+n] = TypeRule{Normalize: n}
			}
		}},
		{"blocked value that does not normalise", func(r *Rules) {
			r.Types[event.IDEmail] = TypeRule{Priority: 90, Blocked: []string{"not-an-email"}}
		}},
		{"cap of 1", func(r *Rules) { r.MaxIdentifiers = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := DefaultRules()
			tc.mutate(&r)
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestExampleConfigMatchesDefaults keeps the identity section of
// docs/cxstream.example.yaml true to DefaultRules: it must load the way
// pipeline.Load loads it (unknown keys are errors) and, read over empty
// rules, spell out every default; read over the defaults, change nothing.
func TestExampleConfigMatchesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/cxstream.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]yaml.Node
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	node, ok := file["identity"]
	if !ok {
		t.Fatal("no identity section")
	}
	section, err := yaml.Marshal(&node)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(into Rules) Rules {
		t.Helper()
		dec := yaml.NewDecoder(bytes.NewReader(section))
		dec.KnownFields(true)
		if err := dec.Decode(&into); err != nil {
			t.Fatalf("identity section: %v", err)
		}
		return into
	}
	want := DefaultRules()
	if got := decode(DefaultRules()); !reflect.DeepEqual(got, want) {
		t.Errorf("the example changes the defaults:\n got %+v\nwant %+v", got, want)
	}
	if got := decode(Rules{}); !reflect.DeepEqual(got, want) {
		t.Errorf("the example does not spell out every default:\n got %+v\nwant %+v", got, want)
	}
}
