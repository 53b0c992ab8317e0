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
		// encoding/json decodes lone surrogates to U+FFFD, which would make
		// these two ids one.
		{`"u-\ud800"`, "", "must not contain U+FFFD"},
		{`"u-\udbff"`, "", "must not contain U+FFFD"},
		{`"u-\ufffd"`, "", "must not contain U+FFFD"},
		{"\"u-\uFFFD\"", "", "must not contain U+FFFD"},
		{"\"u-\xef\xbf\xbd\"", "", "must not contain U+FFFD"},
		{`"u-\ud83d\ude00"`, "u-\U0001F600", ""},
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
		{"not utf-8", "{\"userId\":\"\xff\"}", "userId", "not valid UTF-8 at byte 11 of the message", false},
		{"not utf-8 in a key", "{\"user\xffId\":\"u\"}", "", "message is not valid UTF-8 at byte 6", false},
		{"not utf-8 in a nested value", "{\"userId\":\"u\",\"context\":{\"traits\":{\"name\":\"\xc3\"}}}", "context", "not valid UTF-8 at byte 43", false},
		{"array", `[{"type":"track"}]`, "", "must be a JSON object", false},
		{"null", `null`, "", "must be a JSON object", false},
		{"syntax", `{"type":`, "", "malformed JSON", false},
		{"wrong type", `{"event":1}`, "event", "must be a string", false},
		{"nested", `{"context":{"traits":[]}}`, "", "", false},
		{"batch missing", `{"sentAt":"2026-03-01T12:00:00Z"}`, "batch", "required", true},
		{"batch not array", `{"batch":{}}`, "batch", "must be an array", true},
		{"batch sentAt", `{"batch":[],"sentAt":"now"}`, "sentAt", "ISO 8601", true},
		{"batch context", `{"batch":[],"context":"x"}`, "context", "JSON object", true},
		{"batch writeKey not utf-8", "{\"batch\":[],\"writeKey\":\"wk\xff\"}", "writeKey", "not valid UTF-8 at byte 26 of the batch body", true},
		{"batch sentAt not utf-8", "{\"batch\":[],\"sentAt\":\"2026-03-01T12:00:00Z\xff\"}", "sentAt", "not valid UTF-8 at byte 42 of the batch body", true},
		{"batch context not utf-8", "{\"batch\":[],\"context\":{\"library\":{\"name\":\"\xfe\"}}}", "context", "not valid UTF-8 at byte 42 of the batch body", true},
		{"batch array", `[]`, "", "batch body must be a JSON object", true},
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

// TestBatchItemNotUTF8: invalid UTF-8 in one item rejects that item only
// (encoding/json keeps an item's bytes as they are in json.RawMessage), and
// in fields the batch does not use, nothing.
func TestBatchItemNotUTF8(t *testing.T) {
	bad := "{\"type\":\"track\",\"userId\":\"u-\xff\xfe\",\"event\":\"E\"}"
	body := "{\"batch\":[{\"type\":\"track\",\"userId\":\"u-1\",\"event\":\"Caf\xc3\xa9\"}," + bad +
		",{\"type\":\"track\",\"userId\":\"u-2\",\"event\":\"E\"}],\"integrations\":{\"x\":\"\xff\"},\"sentAt\":\"2026-03-01T11:00:00Z\"}"
	b, err := DecodeBatch([]byte(body))
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if len(b.Items) != 3 || string(b.Items[1]) != bad {
		t.Fatalf("items %q: want item 1 kept byte for byte as %q", b.Items, bad)
	}
	for _, i := range []int{0, 2} {
		if m, err := b.Item(i); err != nil || m.SentAt != "2026-03-01T11:00:00Z" {
			t.Errorf("item %d: %+v, %v", i, m, err)
		}
	}
	_, err = b.Item(1)
	var es event.Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Field != "userId" || es[0].Reason != "not valid UTF-8 at byte 28 of the message" {
		t.Errorf("item 1: %v, want userId: not valid UTF-8 at byte 28 of the message", err)
	}
}

// TestMapLoneSurrogates: ids that encoding/json decodes to U+FFFD are
// rejected wherever they come from, so that "u-\ud800" and "u-\udbff" do
// not both become the user id "u-\ufffd".
func TestMapLoneSurrogates(t *testing.T) {
	for _, tc := range []struct{ body, field string }{
		{`{"type":"track","event":"E","userId":"u-\ud800"}`, "userId"},
		{`{"type":"track","event":"E","userId":"u-\udbff"}`, "userId"},
		{`{"type":"track","event":"E","userId":"u-1","anonymousId":"a-\udc00x"}`, "anonymousId"},
		{`{"type":"alias","userId":"u-1","previousId":"\ud800"}`, "previousId"},
		{`{"type":"identify","userId":"u-1","traits":{"email":"j\ud800@example.com"}}`, "traits.email"},
		{`{"type":"track","event":"E","userId":"u-1","context":{"device":{"id":"d-\ud800"}}}`, "context.device.id"},
		{`{"type":"track","event":"E","userId":"u-1","context":{"externalIds":[{"id":"x-\udfff","type":"crm_id"}]}}`, "context.externalIds[0].id"},
		{"{\"type\":\"track\",\"event\":\"E\",\"userId\":\"u-\ufffd\"}", "userId"},
	} {
		m, err := DecodeMessage([]byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		_, err = Map(m, goldenSource, goldenNow)
		var es event.Errors
		if !errors.As(err, &es) || len(es) != 1 || es[0].Field != tc.field ||
			es[0].Reason != "must not contain U+FFFD (an invalid or lone-surrogate escape)" {
			t.Errorf("%s: %v, want one error on %s", tc.body, err, tc.field)
		}
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
