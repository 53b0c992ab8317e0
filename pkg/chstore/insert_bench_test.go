package chstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

// BenchmarkIntegrationInsertEvents10k inserts batches of 10,000 realistic
// events into the real ClickHouse server and reports rows/s.
func BenchmarkIntegrationInsertEvents10k(b *testing.B) {
	s := openTestStore(b)
	const n = 10000
	batch := make([]event.Resolved, n)
	for i := range batch {
		batch[i] = event.Resolved{ProfileID: fmt.Sprintf("0193a5b0-0000-7000-8000-%012d", i%500), Event: &event.Event{
			EventID: fmt.Sprintf("0193a5b0-1111-7000-8000-%012d", i), Tenant: "bench", Channel: "web",
			Type: event.TypeTrack, Name: "Order Completed",
			EventTime:   time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second),
			ReceivedAt:  time.Date(2026, 1, 2, 15, 4, 6, 0, time.UTC).Add(time.Duration(i) * time.Second),
			Identifiers: []event.Identifier{{Type: "email", Value: fmt.Sprintf("user%d@example.com", i)}, {Type: "anonymous_id", Value: fmt.Sprintf("anon-%d", i)}},
			Traits:      map[string]json.RawMessage{"first_name": json.RawMessage(`"Jane"`), "plan": json.RawMessage(`"gold"`)},
			Properties:  json.RawMessage(`{"order_id":"o-1","revenue":42.5,"currency":"EUR","products":[{"sku":"a","qty":1}]}`),
			Context:     json.RawMessage(`{"ip":"203.0.113.7","user_agent":"Mozilla/5.0"}`),
		}}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.InsertEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
}
