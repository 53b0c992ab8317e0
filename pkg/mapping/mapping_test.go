package mapping

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

var now = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

func mustParse(t *testing.T, spec string) *Mapping {
	t.Helper()
	m, err := Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mapOne reads the single record of input and maps it.
func mapOne(t *testing.T, m *Mapping, f Format, input string) ([]Mapped, error) {
	t.Helper()
	var (
		out []Mapped
		err error
		n   int
	)
	for rec, rerr := range m.Read(f, strings.NewReader(input), 1<<20) {
		n++
		if rerr != nil {
			return nil, rerr
		}
		out, err = m.Map(rec, "acme", now)
	}
	if n != 1 {
		t.Fatalf("%d records in %q, want 1", n, input)
	}
	return out, err
}

func envelope(t *testing.T, mp Mapped) map[string]any {
	t.Helper()
	if err := mp.Prepare(event.DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	b, err := event.Encode(mp.Event)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

const base = `
name: t
channel: store
events:
  - name: "Thing {kind}"
    event_id: "id-{id}"
    identifiers: [{type: user_id, field: user}]
`

func TestValues(t *testing.T) {
	m := mustParse(t, base+`
    time: {field: at, layout: unix_ms}
    traits:
      address.city: {field: city, transform: [trim, upper]}
      vip: {field: vip, as: boolean}
    traits_set_once:
      first_seen_store: store
    traits_increment:
      visits: {value: 1}
      points: {field: points}
    traits_unset: [temp]
    properties:
      amount: {field: cents, as: number, minor_units: 2}
      neg: {field: neg, as: number, minor_units: 2}
      small: {field: small, as: number, minor_units: 3}
      label: {field: code, map: {a: Alpha, b: Beta}, default: Other}
      fixed: {value: {nested: [1, "two"]}}
      dotted: "odd.key"
      first_sku: items.0.sku
      whole_count: {field: count, as: integer}
      text: {template: "{{literal}} {kind}-{id}"}
      missing_one: nothing
      defaulted: {field: nothing, default: 7}
      as_string: {field: cents, as: string}
      when: {field: day, as: time, layout: "02.01.2006 15:04", zone: Europe/Berlin}
`)
	in := `{"kind":"visit","id":42,"user":"u1","at":1772000000123,"city":" berlin ","vip":"yes","store":"S1",
	"points":"2.5","cents":1999,"neg":"-5","small":7,"code":"zz","odd.key":"found","items":[{"sku":"A"}],"count":"3.0","day":"01.03.2026 14:00"}`
	mps, err := mapOne(t, m, JSON, in)
	if err != nil || len(mps) != 1 {
		t.Fatalf("%v %v", mps, err)
	}
	got := envelope(t, mps[0])
	checks := map[string]string{
		"name":             `"Thing visit"`,
		"event_id":         `"id-42"`,
		"event_time":       `"2026-02-25T06:13:20.123Z"`,
		"traits":           `{"address":{"city":"BERLIN"},"vip":true}`,
		"traits_set_once":  `{"first_seen_store":"S1"}`,
		"traits_increment": `{"points":2.5,"visits":1}`,
		"traits_unset":     `["temp"]`,
		"properties": `{"amount":19.99,"as_string":"1999","defaulted":7,"dotted":"found","first_sku":"A","fixed":{"nested":[1,"two"]},` +
			`"label":"Other","neg":-0.05,"small":0.007,"text":"{literal} visit-42","when":"2026-03-01T13:00:00Z","whole_count":3}`,
	}
	for k, want := range checks {
		if g := jsonOf(got[k]); g != want {
			t.Errorf("%s = %s, want %s", k, g, want)
		}
	}
	if got["channel"] != "store" || got["tenant"] != "acme" {
		t.Errorf("channel %v tenant %v", got["channel"], got["tenant"])
	}
}

func TestConditionsAndSkip(t *testing.T) {
	m := mustParse(t, `
name: t
channel: email
skip: {event: [processed, deferred]}
events:
  - when: {event: open, email: {exists: true}}
    name: Opened
    identifiers: [{type: email, field: email}]
  - when: {event: {not: [open, processed, deferred]}, email: {exists: true}}
    name: "Other {event}"
    identifiers: [{type: email, field: email}]
  - when: {event: open, bot: {exists: false}}
    name: Human Open
    identifiers: [{type: email, field: email}]
`)
	tests := []struct {
		in    string
		names []string
		err   string
	}{
		{`{"event":"open","email":"a@b.co"}`, []string{"Opened", "Human Open"}, ""},
		{`{"event":"open","email":"a@b.co","bot":true}`, []string{"Opened"}, ""},
		{`{"event":"click","email":"a@b.co"}`, []string{"Other click"}, ""},
		{`{"event":"processed","email":"a@b.co"}`, nil, ""},
		{`{"event":"click"}`, nil, `no rule of mapping t takes the record: email is missing, event is "click"`},
		{`{"email":"a@b.co","event":["x"]}`, nil, "event is an array"},
	}
	for _, tt := range tests {
		mps, err := mapOne(t, m, JSON, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		var names []string
		for _, mp := range mps {
			names = append(names, mp.Event.Name)
		}
		if jsonOf(names) != jsonOf(tt.names) {
			t.Errorf("%s: events %v, want %v", tt.in, names, tt.names)
		}
	}
}

// TestDerivedEventID: without event_id, the same record is the same event
// whatever its formatting, and another record or rule is another event.
func TestDerivedEventID(t *testing.T) {
	m := mustParse(t, `
name: t
channel: store
events:
  - name: A
    identifiers: [{type: user_id, field: u}]
  - name: B
    identifiers: [{type: user_id, field: u}]
`)
	ids := func(in string, f Format) []string {
		mps, err := mapOne(t, m, f, in)
		if err != nil {
			t.Fatal(err)
		}
		return []string{mps[0].Event.EventID, mps[1].Event.EventID}
	}
	a := ids(`{"u":"1","n":2}`, JSON)
	b := ids("{ \"n\" : 2 ,\n \"u\": \"1\" }", JSON)
	c := ids(`{"u":"1","n":3}`, JSON)
	if a[0] != b[0] || a[1] != b[1] {
		t.Errorf("reformatted record got other ids: %v %v", a, b)
	}
	if a[0] == a[1] || a[0] == c[0] {
		t.Errorf("ids collide: %v %v", a, c)
	}
}

func TestErrorsNameRecordFields(t *testing.T) {
	m := mustParse(t, base+`
    time: when
    properties:
      total: {field: total, as: number}
`)
	tests := []struct{ in, field, reason string }{
		{`{"kind":"k","id":1,"user":"u","when":"2026-03-01T00:00:00Z","total":"1,5"}`, "total", "not a number"},
		{`{"kind":"k","id":1,"user":"u","when":"soon"}`, "when", "RFC 3339"},
		{`{"kind":"k","user":"u","when":"2026-03-01T00:00:00Z"}`, "id", "required by the template"},
		{`{"kind":"k","id":1,"when":"2026-03-01T00:00:00Z"}`, "user", "none of these identifiers"},
		{`{"kind":"k","id":1,"user":{"x":1},"when":"2026-03-01T00:00:00Z"}`, "user", "is an object"},
		{`{"kind":"k","id":1,"user":"u","when":"2001-03-01T00:00:00Z"}`, "when", "before received_at (for event_time)"},
		{`{"kind":"k","id":"` + strings.Repeat("x", 200) + `","user":"u","when":"2026-03-01T00:00:00Z"}`, "id-{id}", "at most 128 bytes (for event_id)"},
	}
	for _, tt := range tests {
		mps, err := mapOne(t, m, JSON, tt.in)
		if err == nil {
			err = mps[0].Prepare(event.DefaultLimits())
		}
		var es event.Errors
		if !errors.As(err, &es) {
			t.Errorf("%s: error %v, want event.Errors", tt.in, err)
			continue
		}
		if es[0].Field != tt.field || !strings.Contains(es[0].Reason, tt.reason) {
			t.Errorf("%s: %q: %q, want %q: ...%q...", tt.in, es[0].Field, es[0].Reason, tt.field, tt.reason)
		}
	}
}

// TestTemplateDefault: a template whose field is missing takes the
// default; without one the field is named.
func TestTemplateDefault(t *testing.T) {
	m := mustParse(t, base+`
    properties:
      order: {template: "{store}-{receipt}", default: unknown}
`)
	mps, err := mapOne(t, m, JSON, `{"kind":"k","id":1,"user":"u","store":"S1"}`)
	if err != nil || string(mps[0].Event.Properties) != `{"order":"unknown"}` {
		t.Errorf("%v %v", mps, err)
	}
	mps, err = mapOne(t, m, JSON, `{"kind":"k","id":1,"user":"u","store":"S1","receipt":"R"}`)
	if err != nil || string(mps[0].Event.Properties) != `{"order":"S1-R"}` {
		t.Errorf("%v %v", mps, err)
	}
}

// TestIdentifierTypeErrorNamesTypeField: an identifier type read from the
// record that is not a valid type names the field it came from.
func TestIdentifierTypeErrorNamesTypeField(t *testing.T) {
	m := mustParse(t, `
name: t
channel: store
events:
  - name: A
    identifiers: [{type: "{kind}", field: u}]
`)
	mps, err := mapOne(t, m, JSON, `{"kind":"Bad Type","u":"x"}`)
	if err == nil {
		err = mps[0].Prepare(event.DefaultLimits())
	}
	var es event.Errors
	if !errors.As(err, &es) || es[0].Field != "{kind}" || !strings.Contains(es[0].Reason, "identifiers[0].type") {
		t.Errorf("error %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{`name: Bad Name
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}]}]`, "name: required: lower-case"},
		{`name: t
channel: Store
events: [{name: A, identifiers: [{type: user_id, field: u}]}]`, "channel: required"},
		{`name: t
channel: store
events: []`, "events: name at least one rule"},
		{`name: t
channel: store
events: [{identifiers: [{type: user_id, field: u}]}]`, "events[0].name: required for track events"},
		{`name: t
channel: store
events: [{name: A, type: click, identifiers: [{type: user_id, field: u}]}]`, "events[0].type: must be one of"},
		{`name: t
channel: store
events: [{name: A, identifiers: []}]`, "events[0].identifiers: name at least one"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: User, field: u}]}]`, "not an identifier type"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{field: u}]}]`, "needs a type"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {x: {field: a, value: 1}}}]`, "properties.x: give exactly one of field, value and template"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {x: {field: a, as: float}}}]`, "properties.x.as: must be string"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {x: {field: a, transform: [reverse]}}}]`, "unknown transform \"reverse\""},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], time: {field: a, zone: Mars/Olympus}}]`, "unknown time zone"},
		{`name: t
channel: store
events: [{name: "A {b", identifiers: [{type: user_id, field: u}]}]`, "unclosed {"},
		{`name: t
channel: store
events: [{name: "A } b", identifiers: [{type: user_id, field: u}]}]`, "unmatched }"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], traits_increment: {a.b: c}}]`, "no dots"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {x: {value: abc, as: number}}}]`, "not a number"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {x: {field: a, minor_units: 2}}}]`, "minor_units"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], propertees: {}}]`, "field propertees not found"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {x: {feild: a}}}]`, "field feild not found"},
		{`name: t
channel: store
events: [{name: A, when: {a: {exists: true, not: b}}, identifiers: [{type: user_id, field: u}]}]`, "a condition is"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {time: {field: t, layout: unix}}}]`, "properties.time.layout: layout and zone apply to as: time"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], time: {field: t, zone: Europe/Berlin}}]`, "a zone applies to a Go layout"},
		{`name: t
channel: store
events: [{name: A, identifiers: [{type: user_id, field: u}], properties: {x: }}]`, "properties.x: empty: give a field path"},
		{`name: t
channel: store
csv_delimiter: "::"
events: [{name: A, identifiers: [{type: user_id, field: u}]}]`, "csv_delimiter"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.spec))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("spec %q:\nerror %v\nwant %q", tt.spec, err, tt.want)
		}
	}
}

func TestCSV(t *testing.T) {
	m := mustParse(t, `
name: t
channel: store
csv_delimiter: ";"
events:
  - name: Sale
    identifiers: [{type: user_id, field: customer.id}]
    properties:
      note: note
      city: customer.city
`)
	input := "\uFEFFcustomer.id;customer.city;note\r\nu1;Köln;\"two\nlines; and \"\"quotes\"\"\"\r\nu2;;plain\nu3;x\n;;\n"
	var got []string
	for rec, err := range m.Read(CSV, strings.NewReader(input), 1<<10) {
		if err != nil {
			got = append(got, "err:"+err.Error()+" raw:"+string(rec.Raw))
			continue
		}
		mps, err := m.Map(rec, "acme", now)
		if err != nil {
			got = append(got, "maperr:"+err.Error())
			continue
		}
		got = append(got, jsonOf(map[string]any{"line": rec.Line, "raw": string(rec.Raw), "header": string(rec.Header), "props": mps[0].Event.Properties}))
	}
	want := []string{
		`{"header":"customer.id;customer.city;note","line":2,"props":{"city":"Köln","note":"two\nlines; and \"quotes\""},"raw":"u1;Köln;\"two\nlines; and \"\"quotes\"\"\""}`,
		`{"header":"customer.id;customer.city;note","line":4,"props":{"note":"plain"},"raw":"u2;;plain"}`,
		`err:the row has 2 columns, the header 3 raw:u3;x`,
		`maperr:customer.id: the record has none of these identifiers; at least one is required`,
	}
	if jsonOf(got) != jsonOf(want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A byte order mark before a quoted first name.
	for rec, err := range m.Read(CSV, strings.NewReader("\uFEFF\"customer.id\";note\nu9;x\n"), 1<<10) {
		if err != nil || jsonOf(rec.Data()) != `{"customer":{"id":"u9"},"note":"x"}` {
			t.Errorf("BOM and quoted header: %v %v", rec.Data(), err)
		}
	}

	for _, bad := range []string{"a,,b\n1,2,3\n", "a,a\n1,2\n", "a,a.b\n1,2\n", "a..b\n1\n"} {
		for _, err := range mustParse(t, strings.Replace(base, "t\n", "t\n", 1)).Read(CSV, strings.NewReader(bad), 1<<10) {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("header %q: error %v, want an InputError", bad, err)
			}
		}
	}
}

func TestNDJSONLimits(t *testing.T) {
	m := mustParse(t, base)
	long := `{"id":1,"kind":"k","user":"u","pad":"` + strings.Repeat("x", 200<<10) + `"}`
	input := `{"id":1,"kind":"k","user":"u"}` + "\n\n  \n" + long + "\r\n" + `{"id":2,"kind":"k","user":"u"}`
	var got []string
	for rec, err := range m.Read(NDJSON, strings.NewReader(input), 100) {
		s := jsonOf(map[string]any{"i": rec.Index, "line": rec.Line, "n": len(rec.Raw)})
		if err != nil {
			s += " " + err.Error()
		}
		got = append(got, s)
	}
	want := []string{`{"i":0,"line":1,"n":30}`, `{"i":1,"line":4,"n":100} record of 204839 bytes, larger than 100`, `{"i":2,"line":5,"n":30}`}
	if jsonOf(got) != jsonOf(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestJSONBodies(t *testing.T) {
	wrapped := mustParse(t, strings.Replace(base, "channel: store", "channel: store\nrecords: data.events", 1))
	plain := mustParse(t, base)
	tests := []struct {
		m     *Mapping
		in    string
		count int
		input string
	}{
		{plain, `{"id":1,"kind":"k","user":"u"}`, 1, ""},
		{plain, ` [{"id":1,"kind":"k","user":"u"}, {"id":2,"kind":"k","user":"u"}] `, 2, ""},
		{plain, `[]`, 0, ""},
		{plain, `[{"id":1}`, 0, "not a JSON array"},
		{plain, `{"id":1`, 0, "not JSON"},
		{plain, "{\"id\":\"\xff\"}", 0, "not valid UTF-8"},
		{wrapped, `{"data":{"events":[{"id":1,"kind":"k","user":"u"}]}}`, 1, ""},
		{wrapped, `{"data":{}}`, 0, `has no "data.events"`},
		{wrapped, `[1]`, 0, "must be a JSON object holding the records"},
	}
	for _, tt := range tests {
		n := 0
		var inputErr string
		for _, err := range tt.m.Read(JSON, strings.NewReader(tt.in), 1<<10) {
			var ie *InputError
			if errors.As(err, &ie) {
				inputErr = ie.Error()
				continue
			}
			n++
		}
		if n != tt.count || !strings.Contains(inputErr, tt.input) || (tt.input == "") != (inputErr == "") {
			t.Errorf("%s: %d records, input error %q; want %d, %q", tt.in, n, inputErr, tt.count, tt.input)
		}
	}
}

func TestFormats(t *testing.T) {
	for ct, want := range map[string]Format{"": JSON, "application/json; charset=utf-8": JSON, "application/x-ndjson": NDJSON, "text/csv; header=present": CSV} {
		if f, ok := FormatOfContentType(ct); !ok || f != want {
			t.Errorf("content type %q: %v %v", ct, f, ok)
		}
	}
	if _, ok := FormatOfContentType("application/xml"); ok {
		t.Error("xml accepted")
	}
	for name, want := range map[string]Format{"a.csv": CSV, "b.jsonl": NDJSON, "c.ndjson": NDJSON, "d.json": JSON} {
		if f, ok := FormatOfFile(name); !ok || f != want {
			t.Errorf("file %q: %v %v", name, f, ok)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml parsed")
	}
}

func TestLoadDirOverridesBuiltin(t *testing.T) {
	dir := t.TempDir()
	custom := strings.Replace(base, "name: t", "name: pos", 1)
	if err := writeFile(dir+"/pos.yaml", custom); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dir+"/kiosk.yaml", strings.Replace(base, "name: t", "name: kiosk", 1)); err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	pos, _ := set.Get("pos")
	if len(pos.rules) != 1 || pos.rules[0].name.src != "Thing {kind}" {
		t.Error("pos was not replaced")
	}
	if _, ok := set.Get("kiosk"); !ok {
		t.Errorf("kiosk missing: %v", set.Names())
	}
	if err := writeFile(dir+"/kiosk2.yaml", strings.Replace(base, "name: t", "name: kiosk", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `both named "kiosk"`) {
		t.Errorf("duplicate names: %v", err)
	}
	if err := set.Unknown("nope"); !strings.Contains(err.Error(), strings.Join(set.Names(), ", ")) || !strings.Contains(err.Error(), "kiosk") {
		t.Errorf("unknown: %v", err)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
