package event

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		typ, in, want string
		err           bool
	}{
		{IDEmail, "  Jane.Doe@Example.COM ", "jane.doe@example.com", false},
		{IDEmail, "jane", "", true},
		{IDEmail, "@example.com", "", true},
		{IDEmail, "a@b@c", "", true},
		{IDEmail, "jane doe@example.com", "", true},
		{IDPhone, "+44 20 7946 0958", "+442079460958", false},
		{IDPhone, "0049 (151) 123-45678", "+4915112345678", false},
		{IDPhone, "+1.415.555.2671", "+14155552671", false},
		{IDPhone, "015112345678", "", true},
		{IDPhone, "+12", "", true},
		{IDPhone, "+1-415-CALL-NOW", "", true},
		{IDPhone, "+0123456789", "", true},
		{IDUserID, " u-42 ", "u-42", false},
		{IDAnonymousID, "   ", "", true},
	} {
		t.Run(tc.typ+"/"+tc.in, func(t *testing.T) {
			got, err := Normalize(tc.typ, tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("Normalize(%q, %q) = %q, %v; want %q, error %v", tc.typ, tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

const valid = `{"event_id":"e-1","tenant":"acme","channel":"web","type":"track","name":"Order Completed",
 "event_time":"2026-03-01T10:00:00.123Z","received_at":"2026-03-01T10:00:01Z",
 "identifiers":[{"type":"email","value":" Jane@Example.com"},{"type":"email","value":"jane@example.com"},{"type":"anonymous_id","value":"a-1"}],
 "traits":{"plan":"gold"},"properties":{"revenue":42.5},"context":{"ip":"203.0.113.9"}}`

func TestDecodePreparedValid(t *testing.T) {
	e, err := DecodePrepared([]byte(valid), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Identifiers) != 2 || e.Identifiers[0] != (Identifier{IDEmail, "jane@example.com"}) {
		t.Errorf("identifiers not normalised and deduplicated: %v", e.Identifiers)
	}
	if e.EventTime.UnixMilli()%1000 != 123 {
		t.Errorf("event time lost milliseconds: %v", e.EventTime)
	}
	out, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodePrepared(out, DefaultLimits())
	if err != nil || again.EventID != e.EventID || !again.EventTime.Equal(e.EventTime) {
		t.Errorf("round trip: %v %+v", err, again)
	}
}

func TestDecodePreparedErrorsNameTheField(t *testing.T) {
	mutate := func(old, repl string) string { return strings.Replace(valid, old, repl, 1) }
	for _, tc := range []struct {
		name, in, field string
	}{
		{"malformed", `{"event_id":`, ""},
		{"not utf-8", "{\"event_id\":\"\xff\"}", "event_id"},
		{"not utf-8 in a key", "{\"event_\xff\":\"e\"}", ""},
		{"wrong type", mutate(`"event_id":"e-1"`, `"event_id":7`), "event_id"},
		{"identifiers not array", mutate(`"identifiers":[`, `"identifiers":{"x":[`) + "}", "identifiers"},
		{"missing event id", mutate(`"event_id":"e-1"`, `"event_id":""`), "event_id"},
		{"bad tenant", mutate(`"tenant":"acme"`, `"tenant":"Acme Corp"`), "tenant"},
		{"bad channel", mutate(`"channel":"web"`, `"channel":""`), "channel"},
		{"unknown type", mutate(`"type":"track"`, `"type":"click"`), "type"},
		{"track without name", mutate(`"name":"Order Completed"`, `"name":""`), "name"},
		{"bad email", mutate(`" Jane@Example.com"`, `"jane-at-example"`), "identifiers[0].value"},
		{"bad identifier type", mutate(`{"type":"anonymous_id"`, `{"type":"Anon ID"`), "identifiers[2].type"},
		{"far future", mutate(`"event_time":"2026-03-01T10:00:00.123Z"`, `"event_time":"2026-03-09T10:00:00Z"`), "event_time"},
		{"before 2000", mutate(`"event_time":"2026-03-01T10:00:00.123Z"`, `"event_time":"1999-03-01T10:00:00Z"`), "event_time"},
		{"bad time format", mutate(`"event_time":"2026-03-01T10:00:00.123Z"`, `"event_time":"yesterday"`), "event_time"},
		{"time a number", mutate(`"event_time":"2026-03-01T10:00:00.123Z"`, `"event_time":1700000000`), "event_time"},
		{"received_at an object", mutate(`"received_at":"2026-03-01T10:00:01Z"`, `"received_at":{}`), "received_at"},
		{"increment not a number", mutate(`"traits":{"plan":"gold"}`, `"traits_increment":{"points":"ten"}`), "traits_increment.points"},
		{"increment too precise", mutate(`"traits":{"plan":"gold"}`, `"traits_increment":{"points":0.0000001}`), "traits_increment.points"},
		{"conflicting operations", mutate(`"traits":{"plan":"gold"}`, `"traits":{"plan":"gold"},"traits_unset":["plan"]`), "traits_unset[0]"},
		{"properties not object", mutate(`"properties":{"revenue":42.5}`, `"properties":[1]`), "properties"},
		{"no identifiers", mutate(`[{"type":"email","value":" Jane@Example.com"},{"type":"email","value":"jane@example.com"},{"type":"anonymous_id","value":"a-1"}]`, `[]`), "identifiers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePrepared([]byte(tc.in), DefaultLimits())
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v is not Errors", err)
			}
			for _, fe := range errs {
				if fe.Field == tc.field && fe.Reason != "" {
					return
				}
			}
			t.Errorf("no error for field %q in %v", tc.field, errs)
		})
	}
}

func TestParseIdentifier(t *testing.T) {
	id, ok := ParseIdentifier("email:a:b@example.com")
	if !ok || id.Type != "email" || id.Value != "a:b@example.com" {
		t.Errorf("got %v %v", id, ok)
	}
	for _, bad := range []string{"", "email", ":x", "email:"} {
		if _, ok := ParseIdentifier(bad); ok {
			t.Errorf("ParseIdentifier(%q) accepted", bad)
		}
	}
}

func FuzzDecodePrepared(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(validOps))
	f.Add([]byte(strings.Replace(validOps, `"logins":1`, `"logins":"1"`, 1)))
	f.Add([]byte(strings.Replace(validOps, `"logins":1`, `"plan":1e-7`, 1)))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"identifiers":[{"type":"phone","value":"+1 (415) 555-2671"}]}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodePrepared(b, DefaultLimits())
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// Anything accepted is normalised: preparing again changes nothing.
		before := len(e.Identifiers)
		if err := Prepare(e, DefaultLimits()); err != nil || len(e.Identifiers) != before {
			t.Fatalf("accepted event does not re-validate: %v", err)
		}
		if e.EventTime.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatal("accepted an event before 2000")
		}
		// Every accepted increment folds exactly.
		for k, n := range e.TraitsIncrement {
			if _, err := Micros(n); err != nil {
				t.Fatalf("accepted increment %s = %q: %v", k, n, err)
			}
		}
	})
}
