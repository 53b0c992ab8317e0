package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// validOps is valid with an "identify" carrying all four trait operations.
const validOps = `{"event_id":"e-2","tenant":"acme","channel":"web","type":"identify",
 "event_time":"2026-03-01T10:00:00Z","received_at":"2026-03-01T10:00:01Z",
 "identifiers":[{"type":"user_id","value":"u-1"}],
 "traits":{"plan":"gold","nickname":null},
 "traits_set_once":{"first_seen":"2026-03-01","signup_channel":"web"},
 "traits_unset":["trial_ends"],
 "traits_increment":{"logins":1,"points":-2.5,"spent":1.25e2}}`

func TestMicros(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"-0", 0, nil},
		{"0.0", 0, nil},
		{"0e99999999999999999999", 0, nil},
		{"-0.000e-5", 0, nil},
		{"1", 1_000_000, nil},
		{"-1", -1_000_000, nil},
		{"0.1", 100_000, nil},
		{"-2.5", -2_500_000, nil},
		{"1e3", 1_000_000_000, nil},
		{"1E+3", 1_000_000_000, nil},
		{"12.5e-1", 1_250_000, nil},
		{"0.000001", 1, nil},
		{"-0.000001", -1, nil},
		{"1e-6", 1, nil},
		{"123456.789012", 123_456_789_012, nil},
		{"0.1000000000000", 100_000, nil}, // trailing zeros are no decimal places
		{"1.5000000e0", 1_500_000, nil},   // idem, with an exponent
		{"0.0000001e1", 1, nil},           // 7 digits shifted back to 6
		{"1000000000000", 1e18, nil},      // 1e12, the largest
		{"-1e12", -1e18, nil},             // the smallest
		{"999999999999.999999", 999_999_999_999_999_999, nil},
		{"0.000000999999e6", 999_999, nil},
		{"1000000000000.000001", 0, errIncrementRange},
		{"1000000000001", 0, errIncrementRange},
		{"-1.000000000001e12", 0, errIncrementRange},
		{"1e13", 0, errIncrementRange},
		{"9999999999999999999999", 0, errIncrementRange}, // beyond uint64 too
		{"1e99999999999999999999", 0, errIncrementRange}, // exponent beyond int
		{"1e400", 0, errIncrementRange},                  // +Inf as a float64
		{"0.0000001", 0, errIncrementDecimal},
		{"1e-7", 0, errIncrementDecimal},
		{"3.1415926", 0, errIncrementDecimal},
		{"1e-99999999999999999999", 0, errIncrementDecimal},
		{"", 0, errNotNumber},
		{"-", 0, errNotNumber},
		{"+1", 0, errNotNumber},
		{"01", 0, errNotNumber},
		{"-01", 0, errNotNumber},
		{".5", 0, errNotNumber},
		{"5.", 0, errNotNumber},
		{"1e", 0, errNotNumber},
		{"1e+", 0, errNotNumber},
		{"1.5.5", 0, errNotNumber},
		{" 1", 0, errNotNumber},
		{"1 ", 0, errNotNumber},
		{`"1"`, 0, errNotNumber},
		{"NaN", 0, errNotNumber},
		{"Infinity", 0, errNotNumber},
		{"-Inf", 0, errNotNumber},
		{"0x10", 0, errNotNumber},
		{"1_000", 0, errNotNumber},
		{"١", 0, errNotNumber}, // a digit, but not an ASCII one
	} {
		got, err := Micros(json.Number(tc.in))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Micros(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// formatMicros renders millionths as a decimal number, the inverse of
// Micros.
func formatMicros(m int64) string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-m)
	}
	return fmt.Sprintf("%s%d.%06d", sign, u/1e6, u%1e6)
}

func FuzzMicros(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "1", "-1", "0.1", "-2.5", "1e3", "1E-6", "1e-7", "1e12", "-1e12", "1000000000000.000001",
		"999999999999.999999", "0.0000001e1", "1.5000000e0", "1e99999999999999999999", "1e400", "01", ".5",
		"", "-", "NaN", "Infinity", "1e", "1.5.5", `"1"`, "0x10", "1_000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Micros(json.Number(s))
		if err != nil {
			if m != 0 || err.Error() == "" {
				t.Fatalf("Micros(%q) = %d, %v: an error needs a message and no result", s, m, err)
			}
			return
		}
		// Only JSON numbers are accepted...
		var v any
		if dec := json.NewDecoder(strings.NewReader(s)); dec.Decode(&v) != nil || dec.More() || json.Valid([]byte(s)) == false {
			t.Fatalf("Micros(%q) = %d accepted something that is not JSON", s, m)
		}
		if _, ok := v.(float64); !ok {
			t.Fatalf("Micros(%q) = %d accepted JSON %T, not a number", s, m, v)
		}
		// ...within the bounds...
		if m > 1e18 || m < -1e18 {
			t.Fatalf("Micros(%q) = %d, beyond 1e12 units", s, m)
		}
		// ...and agree with the float value to a millionth relatively
		// (float64 is exact to about 1e-16).
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("Micros(%q) = %d, but ParseFloat fails: %v", s, m, err)
		}
		if got := float64(m) / 1e6; math.Abs(got-f) > 1e-6*math.Abs(f) {
			t.Fatalf("Micros(%q) = %d (%g), ParseFloat = %g", s, m, got, f)
		}
		// The exact decimal text of the result converts back to it.
		back := formatMicros(m)
		if again, err := Micros(json.Number(back)); err != nil || again != m {
			t.Fatalf("Micros(%q) = %d, but Micros(%q) = %d, %v", s, m, back, again, err)
		}
	})
}

func TestTraitOpsValid(t *testing.T) {
	e, err := DecodePrepared([]byte(validOps), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Traits["plan"]) != `"gold"` || string(e.Traits["nickname"]) != "null" ||
		string(e.TraitsSetOnce["first_seen"]) != `"2026-03-01"` || len(e.TraitsUnset) != 1 || e.TraitsUnset[0] != "trial_ends" {
		t.Errorf("decoded %+v", e)
	}
	for k, want := range map[string]int64{"logins": 1_000_000, "points": -2_500_000, "spent": 125_000_000} {
		if got, err := Micros(e.TraitsIncrement[k]); err != nil || got != want {
			t.Errorf("increment %s = %q: Micros %d, %v; want %d", k, e.TraitsIncrement[k], got, err, want)
		}
	}
	out, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"traits_set_once":{`, `"traits_unset":["trial_ends"]`, `"points":-2.5`, `"spent":1.25e2`} {
		if !strings.Contains(string(out), field) {
			t.Errorf("encoded envelope lacks %s: %s", field, out)
		}
	}
	again, err := DecodePrepared(out, DefaultLimits())
	if err != nil || len(again.TraitsIncrement) != 3 || len(again.TraitsSetOnce) != 2 || len(again.TraitsUnset) != 1 {
		t.Errorf("round trip: %v %+v", err, again)
	}

	// Without operations, the envelope has none of their fields.
	e, err = DecodePrepared([]byte(valid), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := Encode(e); strings.Contains(string(out), "traits_") {
		t.Errorf("event without trait operations encodes them: %s", out)
	}
}

func TestTraitOpsErrors(t *testing.T) {
	mutate := func(old, repl string) string {
		if !strings.Contains(validOps, old) {
			t.Fatalf("validOps has no %s", old)
		}
		return strings.Replace(validOps, old, repl, 1)
	}
	long := strings.Repeat("x", 129)
	many := func(format string) string {
		parts := make([]string, 257)
		for i := range parts {
			parts[i] = fmt.Sprintf(format, i)
		}
		return strings.Join(parts, ",")
	}
	for _, tc := range []struct {
		name, in     string
		field, cause string
	}{
		{"increment a string", mutate(`"logins":1`, `"logins":"1"`), "traits_increment.logins", "must be a JSON number, got JSON string"},
		{"increment not a number", mutate(`"logins":1`, `"logins":"many"`), "traits_increment.logins", "must be a JSON number, got JSON string"},
		{"increment null", mutate(`"logins":1`, `"logins":null`), "traits_increment.logins", "must be a JSON number, got JSON null"},
		{"increment an object", mutate(`"logins":1`, `"logins":{}`), "traits_increment.logins", "must be a JSON number, got JSON object"},
		{"increment a boolean", mutate(`"logins":1`, `"logins":true`), "traits_increment.logins", "must be a JSON number, got JSON boolean"},
		{"increment not an object", mutate(`"traits_increment":{"logins":1,"points":-2.5,"spent":1.25e2}`, `"traits_increment":[1]`), "traits_increment", "must be an object"},
		{"increment too large", mutate(`"logins":1`, `"logins":1e13`), "traits_increment.logins", "at most 1e12"},
		{"increment too precise", mutate(`"points":-2.5`, `"points":0.1234567`), "traits_increment.points", "micro-units"},
		{"increment float overflow", mutate(`"points":-2.5`, `"points":-1e400`), "traits_increment.points", "at most 1e12"},
		{"increment empty name", mutate(`"logins":1`, `"":1`), "traits_increment", "1 to 128 bytes"},
		{"increment long name", mutate(`"logins":1`, `"`+long+`":1`), "traits_increment", "1 to 128 bytes"},
		{"set once long name", mutate(`"first_seen"`, `"`+long+`"`), "traits_set_once", "1 to 128 bytes"},
		{"set once not an object", mutate(`"traits_set_once":{"first_seen":"2026-03-01","signup_channel":"web"}`, `"traits_set_once":"x"`), "traits_set_once", "must be an object"},
		{"unset empty name", mutate(`"traits_unset":["trial_ends"]`, `"traits_unset":["a",""]`), "traits_unset[1]", "1 to 128 bytes"},
		{"unset not strings", mutate(`"traits_unset":["trial_ends"]`, `"traits_unset":[1]`), "traits_unset", "must be a string"},
		{"unset too many", mutate(`"traits_unset":["trial_ends"]`, `"traits_unset":[`+many(`"u%d"`)+`]`), "traits_unset", "at most 256"},
		{"set once too many", mutate(`"traits_set_once":{`, `"traits_set_once":{`+many(`"s%d":1`)+`,`), "traits_set_once", "at most 256"},
		{"increment too many", mutate(`"traits_increment":{`, `"traits_increment":{`+many(`"i%d":1`)+`,`), "traits_increment", "at most 256"},
		{"set and set once", mutate(`"first_seen"`, `"plan"`), "traits_set_once.plan", `conflicting operations on trait "plan" (set and set_once)`},
		{"set and unset", mutate(`["trial_ends"]`, `["trial_ends","nickname"]`), "traits_unset[1]", `conflicting operations on trait "nickname" (set and unset)`},
		{"set once and unset", mutate(`["trial_ends"]`, `["signup_channel"]`), "traits_unset[0]", `conflicting operations on trait "signup_channel" (set_once and unset)`},
		{"set and increment", mutate(`"logins":1`, `"plan":1`), "traits_increment.plan", `conflicting operations on trait "plan" (set and increment)`},
		{"set once and increment", mutate(`"logins":1`, `"first_seen":1`), "traits_increment.first_seen", `(set_once and increment)`},
		{"unset and increment", mutate(`"logins":1`, `"trial_ends":1`), "traits_increment.trial_ends", `(unset and increment)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePrepared([]byte(tc.in), DefaultLimits())
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v is not Errors", err)
			}
			for _, fe := range errs {
				if fe.Field == tc.field && strings.Contains(fe.Reason, tc.cause) {
					return
				}
			}
			t.Errorf("no error for field %q with %q in %v", tc.field, tc.cause, errs)
		})
	}
}

var testTime = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// The same event always gets its errors in the same order.
func TestTraitOpsErrorsSorted(t *testing.T) {
	e := &Event{
		EventID: "e", Tenant: "acme", Channel: "web", Type: TypeIdentify,
		EventTime: testTime, ReceivedAt: testTime,
		Identifiers:     []Identifier{{IDUserID, "u"}},
		Traits:          map[string]json.RawMessage{"a": json.RawMessage(`1`), "b": json.RawMessage(`2`), "c": json.RawMessage(`3`)},
		TraitsIncrement: map[string]json.Number{"c": "1", "b": "1", "a": "1", "x": "1e-9", "y": "1e99", "z": ""},
	}
	var want []string
	for range 20 {
		err := Prepare(e, DefaultLimits())
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error %v is not Errors", err)
		}
		var got []string
		for _, fe := range errs {
			got = append(got, fe.Field)
		}
		if want == nil {
			want = got
			continue
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("errors in order %v, then %v", want, got)
		}
	}
	if strings.Join(want, " ") != "traits_increment.x traits_increment.y traits_increment.z traits_increment.a traits_increment.b traits_increment.c" {
		t.Errorf("errors %v", want)
	}
}
