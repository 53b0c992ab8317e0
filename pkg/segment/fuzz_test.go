package segment

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxstream/cxstream/pkg/profile"
)

// FuzzCompile feeds arbitrary YAML to Parse: it never panics, and segments
// it accepts evaluate without panicking on a full and a bare profile, with
// sorted members and a next after now.
func FuzzCompile(f *testing.F) {
	b, err := yaml.Marshal(map[string]any{"segments": Default()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{
		"segments:\n  - name: a\n    when: {field: traits.address.city, in: [Berlin, 2026-03-01]}\n",
		"segments:\n  - name: a\n    when: {not: {any: [{field: psychographic.nps.at, within: 1d12h}, {field: traits.tags.0, contains: x}]}}\n",
		"segments:\n  - name: a\n    when: {field: transactional.last_order_at, older_than: 30d}\n  - name: b\n    when: {field: traits.signup, lte: 2026-03-01T00:00:00Z}\n",
		"segments:\n  - name: a\n    when: {field: derived.lifecycle, eq: ~}\n",
		"segments: [{name: a, when: {all: []}}]\n",
		"segments: &x [*x]\n",
	} {
		f.Add([]byte(s))
	}
	profiles := []func() *profile.Profile{sample, bare}
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := Parse(doc)
		if err != nil {
			return
		}
		for _, p := range profiles {
			for _, at := range []time.Time{now, now.Add(-90 * day), {}} {
				members, next := s.Evaluate(p(), at)
				if !slices.IsSorted(members) {
					t.Fatalf("members not sorted: %v", members)
				}
				if !next.IsZero() && !next.After(at) {
					t.Fatalf("next %s not after %s", next, at)
				}
			}
		}
	})
}

// FuzzJSONValue compares reading a path inside a JSON value in place with
// decoding it by encoding/json and following the path in maps and slices:
// they agree on valid JSON, and nothing panics on any input.
func FuzzJSONValue(f *testing.F) {
	f.Add([]byte(`{"city":"Berlin","zip":"10115"}`), "city")
	f.Add([]byte(`["gold","newsletter",3,{"a":[1,2]}]`), "3.a.1")
	f.Add([]byte(` { "a" : { "b\\u0022" : [ true , null ] }, "a": {"c": "\u00e9\\n"} } `), "a.c")
	f.Add([]byte(`{"x":1e999,"y":2}`), "y")
	f.Add([]byte(`"2026-03-01T00:00:00Z"`), "")
	f.Fuzz(func(t *testing.T, raw []byte, path string) {
		var rest []string
		if path != "" {
			rest = strings.Split(path, ".")
		}
		got := jsonValue(raw, rest)
		var x any
		if !json.Valid(raw) || json.Unmarshal(raw, &x) != nil {
			return
		}
		for _, k := range rest {
			switch c := x.(type) {
			case map[string]any:
				x = c[k]
			case []any:
				i, err := strconv.Atoi(k)
				if err != nil || i < 0 || i >= len(c) {
					x = nil
				} else {
					x = c[i]
				}
			default:
				x = nil
			}
		}
		var want value
		switch x := x.(type) {
		case string:
			want = value{kind: kindText, str: x}
		case float64:
			want = value{kind: kindNumber, num: x}
		case bool:
			want = value{kind: kindBool, b: x}
		case []any:
			var arr []any
			if got.kind != kindArray || json.Unmarshal(got.raw, &arr) != nil || !reflect.DeepEqual(arr, x) {
				t.Fatalf("%s at %q: got %+v, want the array %v", raw, path, got, x)
			}
			return
		case map[string]any:
			want = value{kind: kindObject}
		}
		if got.text != nil {
			got.str, got.text = string(got.text), nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s at %q: got %+v, want %+v", raw, path, got, want)
		}
	})
}
