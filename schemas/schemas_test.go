package schemas_test

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/schemas"
)

// schema is the part of a JSON Schema these tests read.
type schema struct {
	Schema      string            `json:"$schema"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Required    []string          `json:"required"`
	Properties  map[string]schema `json:"properties"`
	Enum        []string          `json:"enum"`
	OneOf       []schema          `json:"oneOf"`
	Defs        map[string]schema `json:"$defs"`
}

func load(t *testing.T, name string) schema {
	t.Helper()
	b, err := fs.ReadFile(schemas.JSON, name)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// jsonFields returns the JSON names of a struct's fields, all of them and
// those without omitempty, sorted.
func jsonFields(t *testing.T, v any) (all, required []string) {
	t.Helper()
	typ := reflect.TypeOf(v)
	for f := range typ.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" || f.Anonymous {
			t.Fatalf("%s.%s: untagged or embedded fields are not handled here", typ, f.Name)
		}
		all = append(all, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			required = append(required, name)
		}
	}
	slices.Sort(all)
	slices.Sort(required)
	return all, required
}

func keys(m map[string]schema) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestEverySchemaIsDocumentedJSON(t *testing.T) {
	names, err := fs.Glob(schemas.JSON, "*.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	// The four topic contracts of the package comment, at least.
	for _, want := range []string{"envelope.schema.json", "identity.schema.json", "profile.schema.json", "timeline.schema.json"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s is not embedded (have %v)", want, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := fs.ReadFile(schemas.JSON, name)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			for _, key := range []string{"$schema", "title", "description"} {
				if s, _ := doc[key].(string); strings.TrimSpace(s) == "" {
					t.Errorf("%q is missing or not a non-empty string", key)
				}
			}
		})
	}
}

// The schemas are the published contracts; they must describe what the Go
// types actually encode.
func TestSchemasMatchTheGoTypes(t *testing.T) {
	envelope := load(t, "envelope.schema.json")
	eventAll, eventRequired := jsonFields(t, event.Event{})
	profileSchema := load(t, "profile.schema.json")
	if len(profileSchema.OneOf) == 0 {
		t.Fatal("profile.schema.json has no oneOf")
	}
	profileAll, profileRequired := jsonFields(t, profile.Profile{})
	identitySchema := load(t, "identity.schema.json")
	recordAll, recordRequired := jsonFields(t, identity.Record{})
	var kinds []string
	for _, k := range identity.Kinds {
		kinds = append(kinds, string(k))
	}

	tests := []struct {
		name      string
		got, want []string
	}{
		{"envelope required = event.Event fields without omitempty", sorted(envelope.Required), eventRequired},
		{"envelope properties = event.Event fields", keys(envelope.Properties), eventAll},
		{"identity kind enum = identity.Kind constants", sorted(identitySchema.Properties["kind"].Enum), sorted(kinds)},
		{"identity properties = identity.Record fields", keys(identitySchema.Properties), recordAll},
		{"identity required = identity.Record fields without omitempty", sorted(identitySchema.Required), recordRequired},
		{"profile properties = profile.Profile fields", keys(profileSchema.OneOf[0].Properties), profileAll},
		{"profile required = profile.Profile fields without omitempty", sorted(profileSchema.OneOf[0].Required), profileRequired},
	}
	// The profile's parts and the merged-away value.
	for def, v := range map[string]any{"demographic": profile.Demographic{}, "behavioral": profile.Behavioral{},
		"transactional": profile.Transactional{}, "psychographic": profile.Psychographic{}, "derived": profile.Derived{},
		"score": profile.Score{}, "source": profile.Source{}} {
		all, required := jsonFields(t, v)
		d := profileSchema.Defs[def]
		tests = append(tests,
			struct {
				name      string
				got, want []string
			}{"profile $defs." + def + " properties", keys(d.Properties), all},
			struct {
				name      string
				got, want []string
			}{"profile $defs." + def + " required", sorted(d.Required), required})
	}
	for _, part := range []struct {
		name string
		got  schema
		v    any
	}{{"sentiment", profileSchema.Defs["psychographic"].Properties["sentiment"], profile.Sentiment{}},
		{"rfm", profileSchema.Defs["derived"].Properties["rfm"], profile.RFM{}},
		{"merged", profileSchema.OneOf[1], profile.Merged{}}} {
		all, required := jsonFields(t, part.v)
		tests = append(tests,
			struct {
				name      string
				got, want []string
			}{"profile " + part.name + " properties", keys(part.got.Properties), all},
			struct {
				name      string
				got, want []string
			}{"profile " + part.name + " required", sorted(part.got.Required), required})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 && !strings.HasSuffix(tt.name, " required") {
				t.Fatal("nothing to compare with")
			}
			if !slices.Equal(tt.got, tt.want) {
				t.Errorf("schema has %q\nGo has     %q", tt.got, tt.want)
			}
		})
	}
}

var migrationName = regexp.MustCompile(`^clickhouse/(\d{4})_[a-z0-9_]+\.sql$`)

// chstore tests the migrations themselves; this only checks the file names
// the runner relies on.
func TestClickHouseMigrationNames(t *testing.T) {
	names, err := fs.Glob(schemas.ClickHouse, "clickhouse/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no ClickHouse migrations embedded")
	}
	prev := 0
	for _, name := range names { // fs.Glob returns names in lexical order
		m := migrationName.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("%s: want clickhouse/NNNN_name.sql", name)
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if v <= prev {
			t.Errorf("%s: version %d does not follow %d", name, v, prev)
		}
		prev = v
	}
}
