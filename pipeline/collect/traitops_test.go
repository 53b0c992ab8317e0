package collect

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// canonical renders v as compact JSON with sorted object keys, or "" for an
// empty value, for comparing envelope fields.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); s != "null" && s != "{}" && s != "[]" {
		return s
	}
	return ""
}

func TestTraitOperations(t *testing.T) {
	tests := []struct {
		name, path, body string
		// The envelope's traits, traits_set_once, traits_unset and
		// traits_increment as compact JSON; "" for none.
		traits, setOnce, unset, increment string
		// properties is the envelope's properties; "" for none.
		properties string
	}{
		{
			name: "identify: plain traits stay set, $ keys are operations",
			path: "/v1/identify",
			body: `{"messageId":"m-1","userId":"u-1","traits":{"plan":"gold","$set":{"name":"Ann","nickname":null},
				"$set_once":{"first_seen":"2026-03-01"},"$unset":["trial_ends","coupon"],
				"$increment":{"logins":1},"$add":{"points":-2.5}}}`,
			traits:    `{"name":"Ann","nickname":null,"plan":"gold"}`,
			setOnce:   `{"first_seen":"2026-03-01"}`,
			unset:     `["trial_ends","coupon"]`,
			increment: `{"logins":1,"points":-2.5}`,
		},
		{
			name:   "identify without operations",
			path:   "/v1/identify",
			body:   `{"messageId":"m-1","userId":"u-1","traits":{"plan":"gold","email":"ann@example.com"}}`,
			traits: `{"email":"ann@example.com","plan":"gold"}`,
		},
		{
			name:   "identify: null operations are dropped",
			path:   "/v1/identify",
			body:   `{"messageId":"m-1","userId":"u-1","traits":{"plan":"gold","$set":null,"$unset":null}}`,
			traits: `{"plan":"gold"}`,
		},
		{
			name:   "identify: other $ keys are plain traits",
			path:   "/v1/identify",
			body:   `{"messageId":"m-1","userId":"u-1","traits":{"$append":{"tags":"vip"},"$name":"Ann"}}`,
			traits: `{"$append":{"tags":"vip"},"$name":"Ann"}`,
		},
		{
			name:       "track: properties are kept byte for byte",
			path:       "/v1/track",
			body:       `{"messageId":"m-1","userId":"u-1","event":"Order Completed","properties":{"sku":"A-1","$set":{"plan":"gold"},"$increment":{"orders":1,"spent":19.95},"$set_once":{"first_order":"A-1"}}}`,
			traits:     `{"plan":"gold"}`,
			setOnce:    `{"first_order":"A-1"}`,
			increment:  `{"orders":1,"spent":19.95}`,
			properties: `{"sku":"A-1","$set":{"plan":"gold"},"$increment":{"orders":1,"spent":19.95},"$set_once":{"first_order":"A-1"}}`,
		},
		{
			name:       "track: $add",
			path:       "/v1/track",
			body:       `{"messageId":"m-1","userId":"u-1","event":"Refund","properties":{"$add":{"credit":-10,"big":1e12}}}`,
			increment:  `{"big":1e12,"credit":-10}`,
			properties: `{"$add":{"credit":-10,"big":1e12}}`,
		},
		{
			name:       "page: $unset",
			path:       "/v1/page",
			body:       `{"messageId":"m-1","anonymousId":"a-1","name":"Logout","properties":{"$unset":["cart"]}}`,
			unset:      `["cart"]`,
			properties: `{"$unset":["cart"]}`,
		},
		{
			name:       "screen: $set_once",
			path:       "/v1/screen",
			body:       `{"messageId":"m-1","anonymousId":"a-1","name":"Home","properties":{"$set_once":{"first_app_open":"2026-03-01"}}}`,
			setOnce:    `{"first_app_open":"2026-03-01"}`,
			properties: `{"$set_once":{"first_app_open":"2026-03-01"}}`,
		},
		{
			name:       "escaped $ in a key",
			path:       "/v1/track",
			body:       `{"messageId":"m-1","userId":"u-1","event":"E","properties":{"\u0024set":{"plan":"gold"}}}`,
			traits:     `{"plan":"gold"}`,
			properties: `{"\u0024set":{"plan":"gold"}}`,
		},
		{
			name:       "track without operations",
			path:       "/v1/track",
			body:       `{"messageId":"m-1","userId":"u-1","event":"E","properties":{"price":"$5","nested":{"$set":{"x":1}}}}`,
			properties: `{"price":"$5","nested":{"$set":{"x":1}}}`,
		},
		{
			name:       "track: traits are no place for operations",
			path:       "/v1/track",
			body:       `{"messageId":"m-1","userId":"u-1","event":"E","traits":{"$set":{"plan":"gold"}}}`,
			properties: "",
		},
		{
			name:       "group: traits are the group's",
			path:       "/v1/group",
			body:       `{"messageId":"m-1","userId":"u-1","groupId":"g-1","traits":{"$set":{"plan":"gold"}}}`,
			properties: `{"group_id":"g-1","traits":{"$set":{"plan":"gold"}}}`,
		},
		{
			name:       "batch: each item its own",
			path:       "/v1/batch",
			body:       `{"batch":[{"type":"track","messageId":"m-1","userId":"u-1","event":"E","properties":{"$increment":{"points":0.000001}}}]}`,
			increment:  `{"points":0.000001}`,
			properties: `{"$increment":{"points":0.000001}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := post(t, c.Handler(), tt.path, "wk-web", []byte(tt.body))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			msgs := pub.published()
			if len(msgs) != 1 || msgs[0].Topic != kafkaio.DefaultTopics().Interactions {
				t.Fatalf("published %d messages, want one envelope", len(msgs))
			}
			e, err := event.DecodePrepared(msgs[0].Value, event.DefaultLimits())
			if err != nil {
				t.Fatalf("published envelope is invalid: %v\n%s", err, msgs[0].Value)
			}
			for _, f := range []struct{ name, got, want string }{
				{"traits", canonical(t, e.Traits), tt.traits},
				{"traits_set_once", canonical(t, e.TraitsSetOnce), tt.setOnce},
				{"traits_unset", canonical(t, e.TraitsUnset), tt.unset},
				{"traits_increment", canonical(t, e.TraitsIncrement), tt.increment},
				{"properties", string(e.Properties), tt.properties},
			} {
				if f.got != f.want {
					t.Errorf("%s = %s, want %s\n%s", f.name, f.got, f.want, msgs[0].Value)
				}
			}
			for k, n := range e.TraitsIncrement {
				if _, err := event.Micros(n); err != nil {
					t.Errorf("increment %s = %s: %v", k, n, err)
				}
			}
		})
	}
}

func TestTraitOperationErrors(t *testing.T) {
	track := func(props string) string {
		return `{"messageId":"m-1","userId":"u-1","event":"E","properties":` + props + `}`
	}
	identify := func(traits string) string {
		return `{"messageId":"m-1","userId":"u-1","traits":` + traits + `}`
	}
	many := make([]string, 257)
	for i := range many {
		many[i] = fmt.Sprintf(`"t%d"`, i)
	}
	tests := []struct {
		name, path, body string
		field, reason    string
	}{
		// Wrong shapes, found by the collector.
		{"$set not an object", "/v1/track", track(`{"$set":["plan"]}`), "properties.$set", "must be an object of traits, got JSON array"},
		{"$set_once not an object", "/v1/page", track(`{"$set_once":"gold"}`), "properties.$set_once", "must be an object of traits, got JSON string"},
		{"$unset not an array", "/v1/track", track(`{"$unset":"plan"}`), "properties.$unset", "must be an array of trait names (strings)"},
		{"$unset an object", "/v1/identify", identify(`{"$unset":{"plan":true}}`), "traits.$unset", "must be an array of trait names (strings)"},
		{"$unset item not a string", "/v1/screen", `{"messageId":"m-1","userId":"u-1","name":"S","properties":{"$unset":["plan",7]}}`, "properties.$unset[1]", "must be a trait name (a string), got JSON number"},
		{"$unset item null", "/v1/track", track(`{"$unset":[null]}`), "properties.$unset[0]", "got JSON null"},
		{"$increment not an object", "/v1/track", track(`{"$increment":5}`), "properties.$increment", "must be an object of numbers, got JSON number"},
		{"$increment value a string", "/v1/track", track(`{"$increment":{"points":"10"}}`), "properties.$increment.points", "must be a number, got JSON string"},
		{"$increment value null", "/v1/track", track(`{"$increment":{"points":null}}`), "properties.$increment.points", "must be a number, got JSON null"},
		{"$add value an object", "/v1/identify", identify(`{"$add":{"points":{"by":1}}}`), "traits.$add.points", "must be a number, got JSON object"},
		{"$add and $increment of one trait", "/v1/track", track(`{"$increment":{"points":1},"$add":{"points":2}}`), "properties.$add.points", "also incremented by $increment.points"},
		{"$set and a plain trait", "/v1/identify", identify(`{"plan":"gold","$set":{"plan":"silver"}}`), "traits.$set.plan", "also set by traits.plan"},
		// Limits of pkg/event, reported under the message's names.
		{"increment too large", "/v1/track", track(`{"$increment":{"points":1e13}}`), "properties.$increment.points", "at most 1e12"},
		{"increment too precise", "/v1/track", track(`{"$add":{"points":0.1234567}}`), "properties.$add.points", "integer micro-units"},
		{"$unset too long", "/v1/track", track(`{"$unset":[` + strings.Join(many, ",") + `]}`), "properties.$unset", "at most 256"},
		{"$unset empty name", "/v1/track", track(`{"$unset":["a",""]}`), "properties.$unset[1]", "1 to 128 bytes"},
		{"$set_once empty name", "/v1/identify", identify(`{"$set_once":{"":1}}`), "traits.$set_once", "1 to 128 bytes"},
		{"$set long name", "/v1/track", track(`{"$set":{"` + strings.Repeat("x", 129) + `":1}}`), "properties.$set", "1 to 128 bytes"},
		{"$set and $unset of one trait", "/v1/track", track(`{"$set":{"plan":"gold"},"$unset":["plan"]}`), "properties.$unset[0]", `conflicting operations on trait "plan" (set and unset)`},
		{"trait and $increment", "/v1/identify", identify(`{"points":5,"$increment":{"points":1}}`), "traits.$increment.points", `conflicting operations on trait "points" (set and increment)`},
		{"$set_once and $add", "/v1/track", track(`{"$set_once":{"points":0},"$add":{"points":1}}`), "properties.$add.points", `(set_once and increment)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			c, _ := newTestCollector(t, testConfig(), pub)
			w := post(t, c.Handler(), tt.path, "wk-web", []byte(tt.body))
			if w.Code != 400 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			eb := decodeError(t, w)
			found := false
			for _, ie := range eb.Errors {
				if ie.Index == 0 && ie.Field == tt.field && strings.Contains(ie.Reason, tt.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error for field %q with %q in %+v", tt.field, tt.reason, eb.Errors)
			}
			msgs := pub.published()
			if len(msgs) != 1 || msgs[0].Topic != kafkaio.DefaultTopics().DeadLetter || string(msgs[0].Value) != tt.body {
				t.Fatalf("want the message dead-lettered as sent, got %d messages", len(msgs))
			}
			if h := header(msgs[0], kafkaio.HeaderError); !strings.Contains(h, tt.field+": ") {
				t.Errorf("dead letter error header %q does not name %s", h, tt.field)
			}
		})
	}
}

// In a batch, an item with a wrong operation is rejected by its index and the
// others are published.
func TestTraitOperationErrorInBatch(t *testing.T) {
	pub := &fakePublisher{}
	c, _ := newTestCollector(t, testConfig(), pub)
	body := `{"batch":[
		{"type":"track","messageId":"b-0","userId":"u-1","event":"E","properties":{"$increment":{"points":1}}},
		{"type":"identify","messageId":"b-1","userId":"u-1","traits":{"$set_once":{"first_seen":"2026-03-01"}}},
		{"type":"track","messageId":"b-2","userId":"u-1","event":"E","properties":{"$increment":{"points":"one"}}}]}`
	w := post(t, c.Handler(), "/v1/batch", "wk-web", []byte(body))
	if w.Code != 400 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	eb := decodeError(t, w)
	want := itemError{Index: 2, Field: "properties.$increment.points", Reason: "must be a number, got JSON string"}
	if eb.Accepted == nil || *eb.Accepted != 2 || len(eb.Errors) != 1 || eb.Errors[0] != want {
		t.Fatalf("answer %s, want 2 accepted and %+v", w.Body, want)
	}
	msgs := pub.published()
	topics := kafkaio.DefaultTopics()
	if len(msgs) != 3 || msgs[0].Topic != topics.Interactions || msgs[1].Topic != topics.Interactions || msgs[2].Topic != topics.DeadLetter {
		t.Fatalf("published %d messages, want two envelopes and a dead letter", len(msgs))
	}
	if header(msgs[2], headerIndex) != "2" {
		t.Errorf("dead letter index %q", header(msgs[2], headerIndex))
	}
	e, err := event.DecodePrepared(msgs[1].Value, event.DefaultLimits())
	if err != nil || e.EventID != "b-1" || string(e.TraitsSetOnce["first_seen"]) != `"2026-03-01"` || len(e.Traits) != 0 {
		t.Errorf("item 1: %v %s", err, msgs[1].Value)
	}
}
