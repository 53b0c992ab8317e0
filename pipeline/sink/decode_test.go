package sink

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

func TestDecodeEvent(t *testing.T) {
	valid := `{"profile_id":"p1","event_id":"e1","tenant":"t1","channel":"web","type":"track",
		"event_time":"2026-01-02T15:04:05.123Z","received_at":"2026-01-02T15:04:06Z",
		"identifiers":[{"type":"email","value":"x@example.com"}],"traits":{"plan":"gold"}}`
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"valid", valid, ""},
		{"not JSON", "{not json", "decode timeline event"},
		{"empty", "", "decode timeline event"},
		{"wrong type", `{"profile_id":5}`, "decode timeline event"},
		{"no envelope", `{"profile_id":"p1"}`, "event: missing"},
		{"no profile", strings.Replace(valid, `"profile_id":"p1"`, `"profile_id":""`, 1), "profile_id: required"},
		{"no event time", strings.Replace(valid, `"event_time":"2026-01-02T15:04:05.123Z",`, "", 1), "event_time"},
		{"before 1970", strings.Replace(valid, "2026-01-02T15:04:05.123Z", "1969-12-31T23:59:59Z", 1), "event_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeEvent([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("decodeEvent: %v", err)
				}
				if r.ProfileID != "p1" || r.EventID != "e1" || r.EventTime.UnixMilli() != time.Date(2026, 1, 2, 15, 4, 5, 123e6, time.UTC).UnixMilli() {
					t.Errorf("decoded %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decodeEvent error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeRecord(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"merge", `{"kind":"profiles_merged","tenant":"t1","profile_id":"a","from_profile_id":"b","aliases":["b"],"event_id":"e","at":"2026-01-02T15:04:05Z"}`, ""},
		{"merge blocked by a rule", `{"kind":"merge_blocked","tenant":"t1","profile_id":"a","from_profile_id":"b","identifier":"email:x@example.com","rule":"limit:email","identifiers":["user_id:u","email:x@example.com"],"event_id":"e","at":"2026-01-02T15:04:05Z"}`, ""},
		{"unlinked: in no profile", `{"kind":"identifier_unlinked","tenant":"t1","profile_id":"","from_profile_id":"b","identifier":"email:x@example.com","rule":"rederive","event_id":"e","at":"2026-01-02T15:04:05Z"}`, ""},
		{"linked without profile", `{"kind":"identifier_linked","tenant":"t1","profile_id":"","identifier":"email:x@example.com","event_id":"e","at":"2026-01-02T15:04:05Z"}`, "profile_id: required"},
		{"not JSON", `[`, "decode identity record"},
		{"no kind", `{"tenant":"t1","profile_id":"a","event_id":"e","at":"2026-01-02T15:04:05Z"}`, "kind: required"},
		{"no time", `{"kind":"profile_created","tenant":"t1","profile_id":"a","event_id":"e"}`, "at:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRecord([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("decodeRecord: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decodeRecord error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// BenchmarkEncodeEventsBatch measures the sink's CPU path per batch of 1,000
// timeline messages: JSON decoding and checking (decodeEvent) and turning the
// events into cx_events rows (chstore.EncodeEvent, which InsertEvents does
// before appending to the batch).
func BenchmarkEncodeEventsBatch(b *testing.B) {
	const n = 1000
	msgs := make([][]byte, n)
	for i := range msgs {
		r := event.Resolved{ProfileID: fmt.Sprintf("0193a5b0-0000-7000-8000-%012d", i%100), Event: &event.Event{
			EventID:     fmt.Sprintf("0193a5b0-1111-7000-8000-%012d", i),
			Tenant:      "acme",
			Channel:     "web",
			Type:        event.TypeTrack,
			Name:        "Order Completed",
			EventTime:   time.Date(2026, 1, 2, 15, 4, 5, i*1e6, time.UTC),
			ReceivedAt:  time.Date(2026, 1, 2, 15, 4, 6, 0, time.UTC),
			Identifiers: []event.Identifier{{Type: "email", Value: fmt.Sprintf("user%d@example.com", i)}, {Type: "anonymous_id", Value: fmt.Sprintf("anon-%d", i)}},
			Traits:      map[string]json.RawMessage{"first_name": json.RawMessage(`"Jane"`), "plan": json.RawMessage(`"gold"`)},
			Properties:  json.RawMessage(`{"order_id":"o-1","revenue":42.5,"currency":"EUR","products":[{"sku":"a","qty":1},{"sku":"b","qty":2}]}`),
			Context:     json.RawMessage(`{"ip":"203.0.113.7","user_agent":"Mozilla/5.0","page":{"url":"https://shop.example.com/checkout"}}`),
		}}
		bs, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = bs
	}
	var bytes int64
	for _, m := range msgs {
		bytes += int64(len(m))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			r, err := decodeEvent(m)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := chstore.EncodeEvent(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// profileDoc is a cx.profiles profile document as the contract shows it.
const profileDoc = `{"profile_id":"0193a5b0-0000-7000-8000-000000000001","tenant":"acme","version":17,"as_of":"2026-11-23T10:00:00Z",
 "identifiers":{"email":["jane@example.com"]},"traits":{"plan":"pro"},
 "demographic":{"name":"Jane Doe","email":"jane@example.com","phone":"+4915112345678","locale":"de-DE","country":"DE","city":"Berlin"},
 "behavioral":{"first_seen":"2026-01-02T03:04:05Z","last_seen":"2026-11-23T09:59:00.5Z","events":12,"sessions":3,"page_views":5,"screen_views":0,"channels":{"web":7},"event_types":{"page":5},"last_channel":"web","last_event":"Order Completed"},
 "transactional":{"orders":2,"items":3,"revenue":{"EUR":120.5},"refunds":1,"refunded":{"EUR":20},"lifetime_value":{"EUR":100.5},"currency":"USD","lifetime_value_reporting":108.54,"average_order_value":54.27,"first_order_at":"2026-03-01T00:00:00Z","last_order_at":"2026-11-01T00:00:00Z"},
 "psychographic":{"interests":["running"]},
 "derived":{"lifecycle":"active","rfm":{"recency":5,"frequency":2,"monetary":3,"segment":"523"}},
 "merged_from":["0193a5b0-0000-7000-8000-000000000002"],"segments":["recent_detractors","vip_at_risk"]}`

const (
	docID  = "0193a5b0-0000-7000-8000-000000000001"
	intoID = "0193a5b0-0000-7000-8000-000000000009"
)

// kafkaTime is the Kafka timestamp of the test messages.
var kafkaTime = time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC)

// profileMsg builds a cx.profiles message; headers alternate key, value.
func profileMsg(key, value string, headers ...string) kafka.Message {
	m := kafka.Message{Key: []byte(key), Time: kafkaTime}
	if value != "" {
		m.Value = []byte(value)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, kafka.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return m
}

// hdrs are the headers of a well-formed message of tenant acme, version 17.
var hdrs = []string{kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "17"}

func TestDecodeProfileKinds(t *testing.T) {
	t.Run("profile document", func(t *testing.T) {
		s, err := decodeProfile(profileMsg(docID, profileDoc, hdrs...))
		if err != nil {
			t.Fatal(err)
		}
		want := chstore.Snapshot{
			Tenant: "acme", ProfileID: docID, Version: 17,
			AsOf:      time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
			FirstSeen: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LastSeen: time.Date(2026, 11, 23, 9, 59, 0, 5e8, time.UTC),
			Events: 12, Orders: 2, LifetimeValue: 108.54, Currency: "USD", Lifecycle: "active", Email: "jane@example.com",
			Segments: []string{"recent_detractors", "vip_at_risk"}, Profile: profileDoc,
		}
		if !s.AsOf.Equal(want.AsOf) || !s.FirstSeen.Equal(want.FirstSeen) || !s.LastSeen.Equal(want.LastSeen) {
			t.Errorf("times = %v %v %v, want %v %v %v", s.AsOf, s.FirstSeen, s.LastSeen, want.AsOf, want.FirstSeen, want.LastSeen)
		}
		s.AsOf, s.FirstSeen, s.LastSeen = want.AsOf, want.FirstSeen, want.LastSeen
		if !reflect.DeepEqual(s, want) {
			t.Errorf("snapshot:\n got %+v\nwant %+v", s, want)
		}
		if !s.Current() {
			t.Error("a profile document is not current")
		}
	})
	t.Run("profile document without the optional parts", func(t *testing.T) {
		doc := `{"profile_id":"p1","tenant":"acme","version":3,"as_of":"2026-11-23T10:00:00Z",
			"behavioral":{"first_seen":"2026-11-20T00:00:00Z","last_seen":"2026-11-21T00:00:00Z","events":1},
			"transactional":{"orders":0,"currency":"USD","lifetime_value_reporting":0},"derived":{"lifecycle":"new"},"merged_from":[]}`
		s, err := decodeProfile(profileMsg("p1", doc, kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "3"))
		if err != nil {
			t.Fatal(err)
		}
		if s.Email != "" || s.Events != 1 || s.Lifecycle != "new" || s.Version != 3 || s.Profile != doc ||
			s.Segments == nil || len(s.Segments) != 0 {
			t.Errorf("snapshot = %+v", s)
		}
	})
	t.Run("segments", func(t *testing.T) {
		noSegments := strings.Replace(profileDoc, `,"segments":["recent_detractors","vip_at_risk"]`, "", 1)
		for name, tc := range map[string]struct {
			doc  string
			want []string
		}{
			"listed":         {profileDoc, []string{"recent_detractors", "vip_at_risk"}},
			"one":            {strings.Replace(profileDoc, `["recent_detractors","vip_at_risk"]`, `["vip_at_risk"]`, 1), []string{"vip_at_risk"}},
			"none":           {strings.Replace(profileDoc, `["recent_detractors","vip_at_risk"]`, `[]`, 1), []string{}},
			"null":           {strings.Replace(profileDoc, `["recent_detractors","vip_at_risk"]`, `null`, 1), []string{}},
			"absent":         {noSegments, []string{}}, // documents of resolvers before segments
			"copied as sent": {strings.Replace(profileDoc, `["recent_detractors","vip_at_risk"]`, `["b","a","b"]`, 1), []string{"b", "a", "b"}},
		} {
			s, err := decodeProfile(profileMsg(docID, tc.doc, hdrs...))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// A document's segments are never nil: empty means in no
			// segment.
			if s.Segments == nil || !slices.Equal(s.Segments, tc.want) {
				t.Errorf("%s: segments = %#v, want %#v", name, s.Segments, tc.want)
			}
			if s.Profile != tc.doc {
				t.Errorf("%s: the profile column is not the document", name)
			}
		}
		// A merge or a tombstone has no segments, even if a merge carries
		// some: its summary columns are zero.
		m, err := decodeProfile(profileMsg(docID, `{"merged_into":"`+intoID+`","version":17,"segments":["vip_at_risk"]}`, hdrs...))
		if err != nil || len(m.Segments) != 0 || m.MergedInto != intoID {
			t.Errorf("merge with segments = %+v, %v; want a merge with none", m, err)
		}
	})
	t.Run("merged away", func(t *testing.T) {
		s, err := decodeProfile(profileMsg(docID, `{"merged_into":"`+intoID+`","version":18}`, kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "18"))
		if err != nil {
			t.Fatal(err)
		}
		want := chstore.Snapshot{Tenant: "acme", ProfileID: docID, Version: 18, AsOf: kafkaTime, MergedInto: intoID}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("snapshot:\n got %+v\nwant %+v", s, want)
		}
	})
	t.Run("tombstone", func(t *testing.T) {
		for name, value := range map[string][]byte{"nil": nil, "empty": {}} {
			m := profileMsg(docID, "", kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "19")
			m.Value = value
			s, err := decodeProfile(m)
			if err != nil {
				t.Fatalf("%s value: %v", name, err)
			}
			want := chstore.Snapshot{Tenant: "acme", ProfileID: docID, Version: 19, AsOf: kafkaTime, Deleted: true}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("%s value:\n got %+v\nwant %+v", name, s, want)
			}
		}
	})
	t.Run("the value fills in missing headers", func(t *testing.T) {
		s, err := decodeProfile(profileMsg(docID, profileDoc)) // tenant and version from the document
		if err != nil || s.Tenant != "acme" || s.Version != 17 {
			t.Errorf("document without headers = %+v, %v; want tenant acme, version 17", s, err)
		}
		s, err = decodeProfile(profileMsg(docID, `{"merged_into":"`+intoID+`","version":18}`, kafkaio.HeaderTenant, "acme"))
		if err != nil || s.Version != 18 {
			t.Errorf("merge without cx-version = %+v, %v; want version 18", s, err)
		}
		s, err = decodeProfile(profileMsg("", profileDoc, hdrs...))
		if err != nil || s.ProfileID != docID {
			t.Errorf("document without key = %+v, %v; want the document's profile_id", s, err)
		}
		s, err = decodeProfile(profileMsg(docID, `{"merged_into":"`+intoID+`"}`, kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "0"))
		if err != nil || s.Version != 0 {
			t.Errorf("version 0 = %+v, %v", s, err)
		}
	})
}

func TestDecodeProfileErrors(t *testing.T) {
	tombstone := func(headers ...string) kafka.Message { return profileMsg(docID, "", headers...) }
	tests := []struct {
		name    string
		m       kafka.Message
		wantErr string
	}{
		{"not JSON", profileMsg(docID, `{"profile_id": "p", not json`, hdrs...), "decode profile message"},
		{"not an object", profileMsg(docID, `["a"]`, hdrs...), "the value must be a JSON object, got a JSON array"},
		{"section not an object", profileMsg(docID, `{"profile_id":"`+docID+`","derived":["active"]}`, hdrs...), "derived: must be an object, got a JSON array"},
		{"JSON null", profileMsg(docID, ` null `, hdrs...), "decode profile message: the value is JSON null"},
		{"wrong type", profileMsg(docID, strings.Replace(profileDoc, `"events":12`, `"events":"12"`, 1), hdrs...), "behavioral.events: must be a non-negative integer, got a JSON string"},
		{"negative count", profileMsg(docID, strings.Replace(profileDoc, `"orders":2`, `"orders":-2`, 1), hdrs...), "transactional.orders: must be a non-negative integer, got a JSON number"},
		{"bad as_of", profileMsg(docID, strings.Replace(profileDoc, `"as_of":"2026-11-23T10:00:00Z"`, `"as_of":"yesterday"`, 1), hdrs...), "as_of: must be an RFC 3339 time"},
		{"bad first_seen", profileMsg(docID, strings.Replace(profileDoc, `"first_seen":"2026-01-02T03:04:05Z"`, `"first_seen":"2026-01-02"`, 1), hdrs...), "behavioral.first_seen: must be an RFC 3339 time"},
		{"segments not an array", profileMsg(docID, strings.Replace(profileDoc, `["recent_detractors","vip_at_risk"]`, `"vip_at_risk"`, 1), hdrs...), "segments: must be an array, got a JSON string"},
		{"segment not a string", profileMsg(docID, strings.Replace(profileDoc, `["recent_detractors","vip_at_risk"]`, `["recent_detractors",7]`, 1), hdrs...), "segments: must be a string, got a JSON number"},
		{"time not a string", profileMsg(docID, strings.Replace(profileDoc, `"last_seen":"2026-11-23T09:59:00.5Z"`, `"last_seen":1700000000`, 1), hdrs...), "behavioral.last_seen: must be a string, got a JSON number"},

		{"tombstone without tenant", tombstone(kafkaio.HeaderVersion, "5"), "tenant: required (header cx-tenant)"},
		{"merge without tenant", profileMsg(docID, `{"merged_into":"`+intoID+`","version":18}`, kafkaio.HeaderVersion, "18"), "tenant: required (header cx-tenant)"},
		{"empty tenant header", tombstone(kafkaio.HeaderTenant, "", kafkaio.HeaderVersion, "5"), "tenant: required"},
		{"tenants disagree", profileMsg(docID, profileDoc, kafkaio.HeaderTenant, "other", kafkaio.HeaderVersion, "17"), "tenant: header cx-tenant and the value disagree"},

		{"tombstone without version", tombstone(kafkaio.HeaderTenant, "acme"), "version: required (header cx-version)"},
		{"version not a number", tombstone(kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "v5"), "version: header cx-version must be a decimal integer"},
		{"version negative", tombstone(kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "-1"), "version: header cx-version must be"},
		{"version fractional", tombstone(kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "1.5"), "version: header cx-version must be"},
		{"version beyond int64", tombstone(kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "9223372036854775808"), "version: header cx-version must be"},
		{"versions disagree", profileMsg(docID, profileDoc, kafkaio.HeaderTenant, "acme", kafkaio.HeaderVersion, "16"), "version: header cx-version and the value disagree"},
		{"negative version in the value", profileMsg(docID, `{"merged_into":"`+intoID+`","version":-3}`, kafkaio.HeaderTenant, "acme"), "version: must not be negative"},
		{"version in the value not an integer", profileMsg(docID, `{"merged_into":"`+intoID+`","version":1.5}`, hdrs...), "version: must be an integer, got a JSON number"},

		{"tombstone without key", profileMsg("", "", hdrs...), "profile_id: required (message key)"},
		{"key and document disagree", profileMsg("someone-else", profileDoc, hdrs...), "profile_id: the message key and the value disagree"},
		{"document without profile_id", profileMsg(docID, `{"tenant":"acme","version":17}`, hdrs...), "profile_id: required in a profile document"},
		{"empty merged_into", profileMsg(docID, `{"merged_into":"","version":17}`, hdrs...), "merged_into: must not be empty"},
		{"merged into itself", profileMsg(docID, `{"merged_into":"`+docID+`","version":17}`, hdrs...), "merged_into: must differ from profile_id"},

		{"several on one line", profileMsg("", ""), "profile_id: required (message key); tenant: required (header cx-tenant); version: required (header cx-version)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeProfile(tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decodeProfile = %+v, %v; want an error mentioning %q", s, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines (it becomes a header): %q", err)
			}
			if !reflect.DeepEqual(s, chstore.Snapshot{}) {
				t.Errorf("decodeProfile returned %+v with its error", s)
			}
		})
	}
}
