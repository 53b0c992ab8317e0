package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/redisstore"
)

// BenchmarkIntegrationApplyBatch measures one resolve-script call over a
// batch of 1,000 events on the real Redis: each event has an anonymous id
// and every third an email shared with the previous event, so batches
// create, attach and merge. ns/op is per batch (one round trip); divide by
// 1,000 for the cost per event.
func BenchmarkIntegrationApplyBatch(b *testing.B) {
	s, tenant := newStore(b)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	offset := int64(0)
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		items := make([]redisstore.Item, 1000)
		for i := range items {
			id := n*1000 + i
			ids := []string{fmt.Sprintf("anonymous_id:a%d", id)}
			if i%3 == 0 {
				ids = append(ids, fmt.Sprintf("email:p%d@example.com", id/6))
			}
			e := ev(b, tenant, fmt.Sprintf("e%d", id), "web", t0.Add(time.Duration(id)*time.Second), ids...)
			items[i] = item("in/0", offset, e)
			offset++
		}
		if _, err := s.Apply(context.Background(), tenant, items); err != nil {
			b.Fatal(err)
		}
	}
}
