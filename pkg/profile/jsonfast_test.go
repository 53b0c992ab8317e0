package profile

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonSamples are inputs the fast paths must decode exactly as
// encoding/json does, or refuse.
var jsonSamples = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a" : 1 , "b":"x"}`, "{\n\t\"a\": [1, {\"b\": \"]}\"}],\r\n \"c\" : null }\n",
	`{"a":1,"a":2}`, `{"a\"b":"c\\d","é":"ü","\u00e9":true}`, `{"k":"` + "\xff" + `"}`, `{"` + "\xff" + `":1}`,
	`{"a":-1.5e3,"b":false,"c":[],"d":{},"e":"","f":"\\\""}`, `{"a":1,}`, `{"a":1`, `{"a":1}x`, `{"a" 1}`, `{`, ``,
	`"plain"`, `"esc\"aped"`, `"é"`, `"bad` + "\xff" + `"`, `"tab` + "\t" + `"`, `""`, `"`, `"a"b"`, `null`, `12`,
	`["web","e1",1]`, `["web","e1","x"]`, `["web","e1",{"a": [1, 2]}]`, `["web","e1", 1]`, `["web","e1",1 ]`,
	`["web" ,"e1",1]`, `["w\"b","e1",1]`, `["web","e1"]`, `["web","e1",1,2]`, `["web","e1",]`, `["web","e1",[1]]`,
	`["web","e1",]]`, `["web","` + "\xff" + `",1]`, `["web","e1",tru]`, `["web",1,1]`, `[]`, `["","",""]`,
}

func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonSamples {
		checkFastJSON(t, []byte(s))
	}
}

func FuzzFastJSON(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkFastJSON(t, []byte(s)) })
}

func checkFastJSON(t *testing.T, b []byte) {
	t.Helper()
	if isObject(b) {
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil {
			want = nil
		}
		if got := decodeObject(b); !reflect.DeepEqual(got, want) {
			t.Errorf("decodeObject(%q) = %q, want %q", b, got, want)
		}
	}
	var want string
	wantOK := json.Unmarshal(b, &want) == nil
	if got, ok := unquote(b); got != want || ok != wantOK {
		t.Errorf("unquote(%q) = %q, %v, want %q, %v", b, got, ok, want, wantOK)
	}
	if got, ok := plainString(b); ok && (!wantOK || got != want) {
		t.Errorf("plainString(%q) = %q, want %q, %v", b, got, want, wantOK)
	}
	v := strings.Repeat("0", StampLen) + string(b)
	var parts []json.RawMessage
	var src Source
	if json.Unmarshal(b, &parts) == nil && len(parts) == 3 && json.Unmarshal(parts[0], &src.Channel) == nil &&
		json.Unmarshal(parts[1], &src.EventID) == nil {
		src.EventTime = msTime(v[:15])
		got, ok := decodeStamped(v)
		if !ok || got.source != src || string(got.value) != string(parts[2]) || got.stamp != v[:StampLen] {
			t.Errorf("decodeStamped(%q) = %+v, %v, want %+v %q", v, got, ok, src, parts[2])
		}
	} else if _, ok := decodeStamped(v); ok {
		t.Errorf("decodeStamped(%q) ok, encoding/json refuses it", v)
	}
	if ch, id, value, ok := splitStamped(string(b)); ok {
		if len(parts) != 3 || ch != src.Channel || id != src.EventID || string(value) != string(parts[2]) {
			t.Errorf("splitStamped(%q) = %q %q %q", b, ch, id, value)
		}
	}
}
