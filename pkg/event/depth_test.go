package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// nested returns a JSON value n arrays deep, with a string holding
// brackets at the bottom (which must not count).
func nested(n int) json.RawMessage {
	return json.RawMessage(strings.Repeat("[", n) + `"[{\"]"` + strings.Repeat("]", n))
}

func TestDeeperCountsBracketsOutsideStrings(t *testing.T) {
	for _, c := range []struct {
		raw   string
		limit int
		want  bool
	}{
		{`{"a":[1,{"b":2}]}`, 3, false},
		{`{"a":[1,{"b":2}]}`, 2, true},
		{`"[[[[[[[[[[[["`, 1, false},
		{`{"k":"\"[[[[[[[[["}`, 1, false},
		{`[[["\\"]]]`, 2, true},
		{`[[["\\"]]]`, 3, false},
	} {
		if got := deeper([]byte(c.raw), c.limit); got != c.want {
			t.Errorf("deeper(%s, %d) = %v, want %v", c.raw, c.limit, got, c.want)
		}
	}
}

// An envelope must stay decodable: a value that would nest it past
// MaxDepth is refused in Prepare, naming the field.
func TestPrepareRefusesValuesNestingTheEnvelopeTooDeep(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := func() *Event {
		return &Event{EventID: "e", Tenant: "t", Channel: "web", Type: TypeTrack, Name: "Clicked", EventTime: at, ReceivedAt: at,
			Identifiers: []Identifier{{Type: "user_id", Value: "u1"}}}
	}
	cases := map[string]struct {
		set   func(*Event, json.RawMessage)
		limit int // the deepest value the field may hold
	}{
		"properties":      {func(e *Event, v json.RawMessage) { e.Properties = json.RawMessage(`{"p":` + string(v) + `}`) }, MaxDepth - 1},
		"context":         {func(e *Event, v json.RawMessage) { e.Context = json.RawMessage(`{"c":` + string(v) + `}`) }, MaxDepth - 1},
		"traits":          {func(e *Event, v json.RawMessage) { e.Traits = map[string]json.RawMessage{"t": v} }, MaxDepth - 2},
		"traits_set_once": {func(e *Event, v json.RawMessage) { e.TraitsSetOnce = map[string]json.RawMessage{"t": v} }, MaxDepth - 2},
	}
	for field, c := range cases {
		// properties and context wrap the value in one object of their own.
		inner := c.limit
		if field == "properties" || field == "context" {
			inner--
		}
		ok := base()
		c.set(ok, nested(inner))
		if err := Prepare(ok, DefaultLimits()); err != nil {
			t.Errorf("%s at the limit: %v", field, err)
		}
		// The envelope at the limit decodes with encoding/json.
		b, err := json.Marshal(ok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err != nil {
			t.Errorf("%s at the limit: the envelope does not decode: %v", field, err)
		}
		deep := base()
		c.set(deep, nested(inner+1))
		err = Prepare(deep, DefaultLimits())
		if err == nil || !strings.Contains(err.Error(), field+": nested more than 10000 levels") {
			t.Errorf("%s one level deeper: %v", field, err)
		}
	}
}
