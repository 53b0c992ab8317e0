package tracking

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
)

func TestMapGeneratesUUIDv4WithoutMessageID(t *testing.T) {
	m := &Message{Type: "track", Event: "Clicked", UserID: json.RawMessage(`"u-1"`)}
	e, err := Map(m, goldenSource, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(e.EventID)
	if err != nil || id.Version() != 4 {
		t.Fatalf("event_id %q: want a UUID v4 (err %v)", e.EventID, err)
	}
	e2, err := Map(m, goldenSource, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if e2.EventID == e.EventID {
		t.Fatal("two messages without messageId got the same event_id")
	}
}

func TestMapTypeDecidesMapping(t *testing.T) {
	// A collector endpoint overrides the body's type before Map.
	m, err := DecodeMessage([]byte(`{"type":"identify","userId":"u","event":"Clicked","name":"Home","properties":{"a":1},"traits":{"plan":"pro"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ        string
		name       string
		traits     bool
		properties string
	}{
		{"track", "Clicked", false, `{"a":1}`},
		{"page", "Home", false, `{"a":1}`},
		{"screen", "Home", false, `{"a":1}`},
		{"identify", "", true, ``},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			mm := *m
			mm.Type = tt.typ
			e, err := Map(&mm, goldenSource, goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != tt.name || (e.Traits != nil) != tt.traits || string(e.Properties) != tt.properties {
				t.Errorf("got name %q traits %v properties %s", e.Name, e.Traits, e.Properties)
			}
		})
	}
}

func TestIDText(t *testing.T) {
	tests := []struct {
		raw, want, err string
	}{
		{``, "", ""},
		{`null`, "", ""},
		{`"  u-1 "`, "u-1", ""},
		{`"   "`, "", ""},
		{`12345`, "12345", ""},
		{`-7`, "-7", ""},
		{`98765432109876543210`, "98765432109876543210", ""},
		{`1.5e3`, "1500", ""},
		{`12.25`, "12.25", ""},
		{`1e400`, "", "out of range"},
		{`true`, "", "got JSON boolean"},
		{`{"id":1}`, "", "got JSON object"},
		{`[1]`, "", "got JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			var errs event.Errors
			got := idText(json.RawMessage(tt.raw), "userId", &errs)
			if got != tt.want {
				t.Errorf("idText(%s) = %q, want %q", tt.raw, got, tt.want)
			}
			switch {
			case tt.err == "" && len(errs) > 0:
				t.Errorf("unexpected error %v", errs)
			case tt.err != "" && (len(errs) != 1 || errs[0].Field != "userId" || !strings.Contains(errs[0].Reason, tt.err)):
				t.Errorf("errors %v, want one on userId containing %q", errs, tt.err)
			}
		})
	}
}

func TestPrepareNamesSegmentFields(t *testing.T) {
	m := &Message{
		Type:      "track",
		MessageID: strings.Repeat("m", 200),
		Event:     strings.Repeat("e", 300),
		UserID:    json.RawMessage(`"` + strings.Repeat("u", 300) + `"`),
		Timestamp: "1999-12-31T23:59:59Z",
	}
	e, err := Map(m, goldenSource, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	err = Prepare(e, event.DefaultLimits())
	var es event.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want event.Errors, got %v", err)
	}
	fields := map[string]bool{}
	for _, fe := range es {
		fields[fe.Field] = true
	}
	for _, want := range []string{"messageId", "event", "userId", "timestamp"} {
		if !fields[want] {
			t.Errorf("no error on %s in %v", want, es)
		}
	}
}

func TestMapClockSkew(t *testing.T) {
	tests := []struct {
		name                        string
		timestamp, original, sentAt string
		want                        time.Time
	}{
		{"client behind", "2026-03-01T11:50:00Z", "", "2026-03-01T11:55:00Z", goldenNow.Add(-5 * time.Minute)},
		{"client ahead", "2026-03-01T13:50:00Z", "", "2026-03-01T13:55:00Z", goldenNow.Add(-5 * time.Minute)},
		{"original timestamp", "", "2026-03-01T13:50:00Z", "2026-03-01T13:55:00Z", goldenNow.Add(-5 * time.Minute)},
		{"timestamp wins", "2026-03-01T10:00:00Z", "2026-03-01T09:00:00Z", "", goldenNow.Add(-2 * time.Hour)},
		{"no sentAt", "2026-03-01T11:00:00Z", "", "", goldenNow.Add(-time.Hour)},
		{"no timestamp", "", "", "2026-03-01T08:00:00Z", goldenNow},
		{"offset", "2026-03-01T12:00:00+01:00", "", "", goldenNow.Add(-time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Message{Type: "track", Event: "x", UserID: json.RawMessage(`"u"`),
				Timestamp: tt.timestamp, OriginalTimestamp: tt.original, SentAt: tt.sentAt}
			e, err := Map(m, goldenSource, goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			if !e.EventTime.Equal(tt.want) || e.EventTime.Location() != time.UTC {
				t.Errorf("event_time %v, want %v UTC", e.EventTime, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, body, field, reason string
		batch                     bool
	}{
		{"not utf-8", "{\"userId\":\"\xff\"}", "", "not valid UTF-8", false},
		{"array", `[{"type":"track"}]`, "", "must be a JSON object", false},
		{"null", `null`, "", "must be a JSON object", false},
		{"syntax", `{"type":`, "", "malformed JSON", false},
		{"wrong type", `{"event":1}`, "event", "must be a string", false},
		{"nested", `{"context":{"traits":[]}}`, "", "", false},
		{"batch missing", `{"sentAt":"2026-03-01T12:00:00Z"}`, "batch", "required", true},
		{"batch not array", `{"batch":{}}`, "batch", "must be an array", true},
		{"batch sentAt", `{"batch":[],"sentAt":"now"}`, "sentAt", "ISO 8601", true},
		{"batch context", `{"batch":[],"context":"x"}`, "context", "JSON object", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.batch {
				_, err = DecodeBatch([]byte(tt.body))
			} else {
				_, err = DecodeMessage([]byte(tt.body))
			}
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error %v (context is checked by Map, not by decoding)", err)
				}
				return
			}
			var es event.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("want event.Errors, got %v", err)
			}
			if es[0].Field != tt.field || !strings.Contains(es[0].Reason, tt.reason) {
				t.Errorf("got %v, want field %q reason containing %q", es, tt.field, tt.reason)
			}
		})
	}
}

func TestBatchItem(t *testing.T) {
	b, err := DecodeBatch([]byte(`{"batch":[{"type":"track","context":{"ip":"1"}},{"type":"track","context":"x"},{"type":"track"}],"sentAt":"2026-03-01T11:00:00Z","context":{"ip":"0","library":{"name":"l"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.Item(0)
	if err != nil {
		t.Fatal(err)
	}
	if m.SentAt != "2026-03-01T11:00:00Z" || string(m.Context) != `{"ip":"1","library":{"name":"l"}}` {
		t.Errorf("item 0: sentAt %q context %s", m.SentAt, m.Context)
	}
	if _, err := b.Item(1); err == nil {
		t.Error("item 1: a string context merged into the batch context without error")
	}
	if m, err := b.Item(2); err != nil || string(m.Context) != string(b.Context) {
		t.Errorf("item 2: context %s, err %v; want the batch's", m.Context, err)
	}
	if _, err := b.Item(3); err == nil {
		t.Error("item 3 of 3: no error")
	}
}

func TestBodyWriteKey(t *testing.T) {
	for body, want := range map[string]string{
		`{"writeKey":"wk","batch":"broken"}`: "wk",
		`{"writeKey":1}`:                     "",
		`{"writeKey":"wk"`:                   "",
		`[]`:                                 "",
	} {
		if got := BodyWriteKey([]byte(body)); got != want {
			t.Errorf("BodyWriteKey(%s) = %q, want %q", body, got, want)
		}
	}
}
