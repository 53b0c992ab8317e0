package sink

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/event"
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
